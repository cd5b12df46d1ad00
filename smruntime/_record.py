"""``_Record``, the base of smruntime's immutable value classes (model records, requests, options).

A plain class rather than a frozen dataclass: importing dataclasses costs milliseconds at start-up.
(sigv4 has its own copy in ``sigv4._record``: it imports nothing from smruntime.)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, ClassVar, NoReturn


class _Record:
    """Immutable (assigning or deleting a field raises ``AttributeError``), compared and hashed
    by its fields in ``_FIELDS`` order, shown as ``Name(field=value, ...)`` and pickled through
    ``__init__`` with the fields in that order (so ``_FIELDS`` follows the constructor).

    ``_FIELDS`` defaults to the class's ``__slots__`` (less ``__weakref__``); a class whose slots
    are not in constructor order, or hold more than the fields, sets it. ``__init__`` stores the
    fields with :meth:`_init`. Fields holding a read-only ``MappingProxyType`` are hashed by
    their items and pickled as dicts. ``_NAME_IN_ERRORS`` adds ``of ClassName`` to the
    ``AttributeError`` messages (the wording of the model records).
    """

    __slots__ = ()
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    _NAME_IN_ERRORS: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls._FIELDS:
            slots = cls.__dict__.get("__slots__", ())
            cls._FIELDS = tuple(name for name in slots if not name.startswith("__"))

    def _init(self, *values: Any) -> None:
        """Store ``values`` in the fields, in ``_FIELDS`` order."""
        setter = object.__setattr__
        for name, value in zip(self._FIELDS, values):
            setter(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._FIELDS])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        # A TypeError if a field is unhashable (a list, a dict).
        return hash(
            tuple(
                frozenset(v.items()) if isinstance(v, MappingProxyType) else v
                for v in self._values()
            )
        )

    def _frozen_error(self, verb: str, name: str) -> AttributeError:
        where = f" of {type(self).__name__}" if self._NAME_IN_ERRORS else ""
        return AttributeError(f"cannot {verb} field {name!r}{where}")

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise self._frozen_error("assign to", name)

    def __delattr__(self, name: str) -> NoReturn:
        raise self._frozen_error("delete", name)

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled: mapping fields travel as dicts.
        values = tuple(dict(v) if isinstance(v, MappingProxyType) else v for v in self._values())
        return (self.__class__, values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__name__}({shown})"
