"""Contract: the ``database_url`` fixture gives every test a fresh, working database on each engine."""

from __future__ import annotations

import textwrap

import pytest
import sqlalchemy as sa

from tests_support_names import PROBE_ROWS  # noqa: F401  (replaced below)
