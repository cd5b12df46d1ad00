"""``_Record``, the base of sigv4's immutable value classes.

A plain class rather than a frozen dataclass: importing dataclasses costs milliseconds at start-up.
(``smruntime._record`` extends it for smruntime's records.)
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn


class _Record:
    """Immutable (assigning or deleting a field raises ``AttributeError``), compared and hashed
    by its fields in ``_FIELDS`` order, shown as ``Name(field=value, ...)`` and pickled through
    ``__init__`` with the fields in that order (so ``_FIELDS`` follows the constructor).

    ``_FIELDS`` defaults to the class's ``__slots__`` (less ``__weakref__``); a class whose slots
    are not in constructor order, or that has none, sets it. ``__init__`` stores the fields with
    :meth:`_init`.
    """

    __slots__ = ()
    _FIELDS: ClassVar[tuple[str, ...]] = ()

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
        return hash(self._values())  # a TypeError if a field is unhashable (a list, a dict)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__name__}({shown})"
