"""Who may call which endpoint (SEC-2), checked in one place for every route.

``RULES`` maps each route's name to the permission it needs (any of a tuple), ``PUBLIC`` or
``AUTHENTICATED``.  :func:`check_rules` refuses to build an app with a route that has no rule, so a new
endpoint cannot be exposed by accident (the matrix test in ``tests/integration/test_api_access.py``
calls every route as every role).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute

from juki.domain.changes import COMMANDS

PUBLIC = "public"
AUTHENTICATED = "authenticated"

Rule = str | tuple[str, ...]

RULES: dict[str, Rule] = {
    "home": PUBLIC,
    "health": PUBLIC,
    "login": PUBLIC,
    "logout": AUTHENTICATED,
    "me": AUTHENTICATED,
    "pending": ("change.submit", "change.approve", "change.decide"),
    "get_request": ("change.submit", "change.approve", "change.decide"),
    "approve": "change.approve",
    "return_request": "change.decide",
    "reject": "change.decide",
    "get_person": "person.read",
    "person_history": "person.read",
    "get_household": "person.read",
    "household_history": "person.read",
    "search": "person.search",
    **{f"submit_{kind.value}": "change.submit" for kind in COMMANDS},
}


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute of an app, including those of included routers: FastAPI ≥ 0.16x keeps an included
    router as one lazy ``_IncludedRouter`` entry in ``app.routes`` instead of copying its routes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from api_routes(inner.routes)


def permissions_of(rule: Rule) -> tuple[str, ...]:
    return rule if isinstance(rule, tuple) else (rule,)


def check_rules(route_names: list[str], rules: dict[str, Rule] = RULES) -> None:
    missing = sorted(set(route_names) - set(rules))
    if missing:
        raise RuntimeError(f"routes without an access rule (add them to juki.api.security.RULES or the feature module's RULES): {missing}")
