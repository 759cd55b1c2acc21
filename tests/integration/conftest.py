"""Fixtures of the integration tests."""

from ..issuance_support import chiba, world  # noqa: F401  (the issuance tests' registers: 札幌市, 千葉市)
from .api_support import api  # noqa: F401  (the real API behind a provisioned register)
