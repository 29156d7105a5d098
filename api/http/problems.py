"""Errors as RFC 9457 problem details: the one place domain errors become HTTP statuses.

Every error body is ``application/problem+json`` with ``type``, ``title``, ``status`` and
``detail``, plus ``error``: the name of the annolog error class, which the HTTP SDK
raises again so that callers catch the same exceptions over HTTP as in process.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import (
    AccessDenied,
    AnnologError,
    CommitTooLarge,
    ConfigurationError,
    ConflictError,
    CorruptBlob,
    InvalidInputError,
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
    ConfigurationError: 500,
    LogError: 500,
    UnavailableError: 503,
}
"""The status of each error class; subclasses take their nearest listed ancestor's."""


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
    """Route every error through problem details."""
    app.add_exception_handler(AnnologError, _domain)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http)
