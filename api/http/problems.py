"""Errors as RFC 9457 problem details: the one place domain errors become HTTP statuses.

Every error body is ``application/problem+json`` with ``type``, ``title``, ``status`` and
``detail``, plus ``error``: the name of the annolog error class, which the HTTP SDK
raises again so that callers catch the same exceptions over HTTP as in process.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from annolog.core.errors import (
    AccessDenied,
    AnnologError,
    CommitTooLarge,
    ConfigurationError,
    ConflictError,
    CorruptBlob,
    InvalidInputError,
    JudgeFailed,
    LogError,
    NotAuthenticated,
    NotFoundError,
    ReadOnlyError,
    UnavailableError,
)

MEDIA_TYPE = "application/problem+json"

STATUS: dict[type[AnnologError], int] = {
    InvalidInputError: 422,  # well-formed, but a value is wrong: the detail names the field
    NotAuthenticated: 401,
    AccessDenied: 403,
    NotFoundError: 404,
    ConflictError: 409,
    ReadOnlyError: 409,
    CommitTooLarge: 413,
    CorruptBlob: 500,
    JudgeFailed: 500,
    ConfigurationError: 500,
    LogError: 500,
    UnavailableError: 503,
}
"""The status of each error class; subclasses take their nearest listed ancestor's."""


class ProblemDetails(BaseModel):
    """An error as RFC 9457 problem details."""

    type: str = Field(examples=["urn:annolog:problem:NotFoundError"])
    title: str
    status: int
    detail: str = Field(description="what was attempted, with which value, and why it failed")
    error: str = Field(description="the annolog error class, which the HTTP SDK raises again")
    problems: list[dict[str, str]] | None = Field(default=None, description="each invalid field and why (422)")
    checks: dict[str, str] | None = Field(default=None, description="each backing service's state (503 from /ready)")


_DOCUMENTED = {
    400: "Bad request: malformed; a request line the HTTP server itself refuses (bad characters, "
    "past 64 kB: send long slice queries in a body) is answered in text/plain",
    401: "Not authenticated: no token, an unknown, revoked or expired one",
    403: "Access denied: the principal lacks the role this needs",
    404: "Not found: a project, directory, file, version or tag named does not exist",
    409: "Conflict: the state moved on (a stale revision, a taken name) or a pinned read was written through",
    413: "Too large: the commit exceeds what the log takes in one record",
    422: "Invalid input: the detail and `problems` name each wrong field",
    503: "Unavailable: a backing service cannot be reached; retry after Retry-After seconds",
}


def _documented(status: int, description: str) -> dict[str, Any]:
    content: dict[str, Any] = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    if status == 400:
        content["text/plain"] = {"schema": {"type": "string"}}  # uvicorn's own, before the app is reached
    return {"description": description, "content": content}


RESPONSES: dict[int | str, dict[str, Any]] = {status: _documented(status, d) for status, d in _DOCUMENTED.items()}
"""The problem responses documented on every route (FastAPI's ``responses=``)."""


def status_of(error: AnnologError) -> int:
    return next((STATUS[kind] for kind in type(error).__mro__ if kind in STATUS), 500)


def problem(status: int, title: str, detail: str, *, error: str, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:annolog:problem:{error}", "title": title, "status": status, "detail": detail, "error": error}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = "5"
    return JSONResponse(body | extra, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AnnologError)
    status = status_of(exc)
    return problem(status, type(exc).__name__, str(exc), error=type(exc).__name__)


def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(part) for part in e["loc"] if part != "body"), "message": e["msg"]} for e in exc.errors()
    ]
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return problem(422, "Invalid request", detail, error=InvalidInputError.__name__, problems=problems)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), str(exc.detail), error="HTTPError")


def install(app: FastAPI) -> None:
    """Route every error through problem details, and put their schema in the OpenAPI."""
    app.add_exception_handler(AnnologError, _domain)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http)
    generate, schema = app.openapi, ProblemDetails.model_json_schema()

    def openapi() -> dict[str, Any]:
        # ``RESPONSES`` refers to the schema by name, so FastAPI does not collect it itself.
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {})["ProblemDetails"] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]
