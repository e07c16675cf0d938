"""Errors as RFC 9457 problem details (``application/problem+json``), naming the field.

Every error the HTTP API returns has this shape, whatever raised it: a service
error, a bad key, a rate limit, a body FastAPI could not validate, an unknown
route, or a bug (500, with no internals in the body).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import AuthError, RateLimited
from domain.errors import dotted
from service.operations import ServiceError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://recoup.dev/problems/"


class InvalidParam(BaseModel):
    name: str = Field(description="The field, dotted: account.amount_due, accounts[2].email.")
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details, with ``invalid_params`` naming each field at fault."""

    type: str = Field(default="about:blank")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    field: str | None = Field(default=None, description="The first field at fault.")
    invalid_params: list[InvalidParam] = Field(default_factory=list)


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    field: str | None = None,
    invalid: list[InvalidParam] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    slug = title.lower().replace(" ", "-")
    body = Problem(
        type=f"{_TYPE_BASE}{slug}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        field=field or (invalid[0].name if invalid else None),
        invalid_params=invalid or [],
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


# Where a request's parameters are (FastAPI's first ``loc`` item); the rest is the body.
_PARAMETERS = frozenset({"path", "query", "header", "cookie"})


# How a problem names the request body as a whole (as ``domain.errors.dotted`` does).
BODY = "(root)"
# What FastAPI says when the body is not JSON it can decode at all.
_UNREADABLE_BODY = "There was an error parsing the body"


def _invalid_param(error: Any) -> InvalidParam:
    if error.get("type") == "json_invalid":  # loc ("body", character): the body is broken
        cause = (error.get("ctx") or {}).get("error", error["msg"])
        position = error["loc"][-1]
        return InvalidParam(name=BODY, reason=f"not valid JSON at character {position}: {cause}")
    return InvalidParam(name=_location(tuple(error["loc"])), reason=str(error["msg"]))


# Headers as clients spell them (FastAPI reports them lower-cased).
_HEADER_NAMES = {"last-event-id": "Last-Event-ID", "idempotency-key": "Idempotency-Key"}


def _location(loc: tuple[Any, ...]) -> str:
    # ("body", "account", "amount_due") → "account.amount_due"; ("path", "id") → "id".
    if len(loc) == 2 and loc[0] == "header" and isinstance(loc[1], str):
        return _HEADER_NAMES.get(loc[1], loc[1])
    parts = list(loc[1:]) if loc and loc[0] in {"body", "path", "query", "header"} else list(loc)
    return dotted(parts)


def document(app: FastAPI) -> None:
    """Say in the OpenAPI document what ``install`` makes true: every error is a problem.

    Routes that list their errors with ``Problem`` say so already; the others (FastAPI's
    own 422, the codec server's 400/401/403) would otherwise promise a JSON body of
    another shape, and a client generated from the document would misread them.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for item in document.get("paths", {}).values():
            for operation in item.values():
                for code, response in operation.get("responses", {}).items():
                    if str(code)[:1] in {"4", "5"}:
                        response["content"] = {PROBLEM_JSON: problem}
                for parameter in operation.get("parameters", []):
                    _not_nullable(parameter)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in schemas:  # no route named it: add it and what it refers to
            generated = Problem.model_json_schema(ref_template=_REF)
            schemas.update(generated.pop("$defs", {}))
            schemas["Problem"] = generated
        # FastAPI's validation error shapes are never sent: every 422 is a problem.
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused not in json.dumps(document["paths"]):
                schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


_REF = "#/components/schemas/{model}"


def _not_nullable(parameter: dict[str, Any]) -> None:
    """``int | None = None`` is an optional parameter, not one that may be ``null``.

    A query string or a header cannot carry a JSON null (a client told it may would
    send the text "null"): a parameter is documented by its type, and being optional
    by ``required: false``.
    """
    schema = parameter.get("schema", {})
    variants = schema.get("anyOf")
    if not isinstance(variants, list):
        return
    kept = [v for v in variants if v != {"type": "null"}]
    if len(kept) == 1 and len(kept) < len(variants):
        del schema["anyOf"]
        schema.update(kept[0])


def install(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        invalid = [
            InvalidParam(
                name=f"{p.location}.{p.field}" if p.location else p.field, reason=p.message
            )
            for p in exc.problems
        ]
        if not invalid and exc.field:  # invalid_params names every field at fault: this one
            invalid = [InvalidParam(name=exc.field, reason=exc.detail)]
        return problem_response(
            request, exc.status, exc.title, exc.detail, field=exc.field, invalid=invalid
        )

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        return problem_response(
            request,
            401,
            "Unauthorized",
            str(exc),
            field="Authorization",
            headers={"WWW-Authenticate": 'Bearer realm="recoup"'},
        )

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return problem_response(
            request,
            429,
            "Too many requests",
            str(exc),
            headers={"Retry-After": str(max(1, round(exc.retry_after)))},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        invalid = [_invalid_param(e) for e in errors]
        if errors and all(e["loc"] and e["loc"][0] in _PARAMETERS for e in errors):
            # The URL or a header is malformed (a cursor beyond the database's integers,
            # a limit out of range): 400. 422 is kept for a body that cannot be acted on.
            return problem_response(
                request,
                400,
                "Bad request",
                "a parameter of the request is not valid",
                invalid=invalid,
            )
        return problem_response(
            request, 422, "Invalid input", "the request does not match its schema", invalid=invalid
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}.get(
            exc.status_code, "Error"
        )
        invalid = None
        if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
            # FastAPI's answer to a body json.loads raised on: name the body as a whole.
            invalid = [
                InvalidParam(
                    name=BODY,
                    reason="cannot be read as JSON: not UTF-8, or a number of more than "
                    "4300 digits",
                )
            ]
        return problem_response(
            request,
            exc.status_code,
            title,
            str(exc.detail),
            invalid=invalid,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "Internal error", "an unexpected error; it has been logged"
        )
