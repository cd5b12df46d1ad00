from __future__ import annotations

from collections.abc import Iterator

import pytest

from smruntime.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator (endpoints ``echo``, ``tokens``, ``tokens-jsonl``; generated keys)."""
    with Emulator() as emu:
        yield emu
