"""Fixtures of the integration tests."""

from .api_support import api  # noqa: F401  (the real API behind a provisioned register)
