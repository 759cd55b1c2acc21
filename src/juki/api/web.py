"""The counter (窓口) web UI as a feature of the app: its pages and their rules live in :mod:`juki.web.routes`."""

from juki.web.routes import RULES, router

__all__ = ["RULES", "router"]
