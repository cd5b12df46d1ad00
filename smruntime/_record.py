"""``_Record``, the base of smruntime's immutable value classes (model records, requests, options).

It extends sigv4's base (smruntime builds on sigv4; sigv4 imports nothing from smruntime) with
what the model records need: read-only mapping fields and the records' error wording.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, ClassVar, NoReturn

from sigv4._record import _Record as _BaseRecord


class _Record(_BaseRecord):
    """:class:`sigv4._record._Record` (immutable, compared, hashed, shown and pickled by its
    ``_FIELDS``), plus: fields holding a read-only ``MappingProxyType`` are hashed by their items
    and pickled as dicts; ``_NAME_IN_ERRORS`` adds ``of ClassName`` to the ``AttributeError``
    messages (the wording of the model records).
    """

    __slots__ = ()
    _NAME_IN_ERRORS: ClassVar[bool] = False

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
