"""What every API router shares: error bodies, JSON bodies, the session's principal, the requester.

A feature's routes live in their own module (``juki.api.<feature>``) exposing ``RULES`` (route name →
permission, see :mod:`juki.api.security`) and ``router(reg) -> APIRouter``; :func:`juki.api.app.create_app`
mounts every module listed in ``juki.api.app.FEATURES`` behind the same guard, error handlers and audit.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse

from juki.access.model import Principal, Requester
from juki.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    JukiError,
    NotFound,
    Problem,
    RuleViolation,
    Unavailable,
)
from juki.services.changes import Actor

AsOf = Annotated[dt.date | None, Query(description="この日の時点の内容 (YYYY-MM-DD)")]


STATUS: dict[type[JukiError], int] = {InvalidInput: 422, RuleViolation: 422, NotFound: 404, Conflict: 409,
                                      Forbidden: 403, Unavailable: 503}
"""The HTTP status of each kind of refusal, for every HTTP entry point (the register's API, the nodes)."""


def error_response(status: int, problems: list[Problem] | tuple[Problem, ...], kind: str) -> JSONResponse:
    return JSONResponse({"error": kind, "problems": [p.as_dict() for p in problems]}, status_code=status)


def refusal_response(exc: JukiError) -> JSONResponse:
    """A refusal as JSON with the status of its kind (:data:`STATUS`; 422 for any other)."""
    return error_response(STATUS.get(type(exc), 422), exc.problems, exc.kind)


def actor(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.terminal_id, principal.session_id)


def requester(person_id: str | None, name: str | None, kana: str | None, birth: dt.date | None) -> Requester | None:
    """請求者: whom a search or request is made for (SEC-8); None when made for the register's own work."""
    if not (person_id or name or kana):
        return None
    return Requester(person_id=person_id, name=name, name_kana=kana, birth_date=birth)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(Problem("body", "API-JSON", "JSONとして読めません。", "The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise InvalidInput(Problem("body", "API-JSON", "JSONオブジェクトを送ってください。", "The body must be a JSON object."))
    return data



def current_principal(request: Request) -> Principal | None:
    """The session's principal, set by the app-wide guard before any route runs."""
    return getattr(request.state, "principal", None)


Principal_ = Annotated[Principal | None, Depends(current_principal)]



Req = Annotated[str | None, Query(description="請求者の宛名番号（第三者等の請求のとき）")]
ReqName = Annotated[str | None, Query(description="請求者の氏名")]
ReqKana = Annotated[str | None, Query(description="請求者の氏名（カナ）")]
ReqBirth = Annotated[dt.date | None, Query(description="請求者の生年月日")]

