"""What every ``juki`` subcommand shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from juki.config import Register


def register() -> Register:
    """The register configured by the environment (imported here so that ``juki --help`` starts fast)."""
    from juki.config import Register

    return Register()
