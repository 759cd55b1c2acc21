"""Fixtures shared by the storage contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from juki.adapters.db.store import Store

from ..clock import Clock
from ..issuance_support import world  # noqa: F401  (the issuance tests' 札幌市)
from .test_store_support import Clock as start_clock
from .test_store_support import make_store


@pytest.fixture
def clock() -> Clock:
    return start_clock()


@pytest.fixture
def store(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Store]:
    """A migrated store on both engines (``database_url``), with the hand-moved ``clock``."""
    s = make_store(database_url, tmp_path, clock)
    yield s
    s.engine.dispose()
