"""Health, readiness, who-am-I and tokens."""

from collections.abc import Callable
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from annolog.api.http.deps import PrincipalDep, ServiceDep, TokensDep
from annolog.api.http.problems import problem
from annolog.api.service import Service
from annolog.api.tokens import IssuedToken, TokenInfo
from annolog.api.wire import Me, NewToken
from annolog.core.errors import AnnologError, NotFoundError
from annolog.projections.status import rejected_count

router = APIRouter(tags=["system"])

_NO_BLOB = "0" * 64


def _checks(service: Service) -> dict[str, str]:
    """Each backing service: "ok", or why it cannot be used."""

    def probe(name: str, check: Callable[[], object]) -> tuple[str, str]:
        try:
            check()
        except AnnologError as exc:
            return name, f"unavailable: {exc}"
        return name, "ok"

    def database() -> None:
        with service.reading() as db:
            db.execute(text("SELECT 1"))

    def blobs() -> None:
        # A read of a blob never stored, which a usable store answers with "not found". Not
        # exists(): S3 answers a HEAD of a missing bucket like one of a missing key, so /ready
        # said ok and the first upload failed; a GET's error names the missing bucket.
        with suppress(NotFoundError):
            service.blobs.open(_NO_BLOB).close()

    return dict(
        [
            probe("log", service.log.check),  # the producer the API appends with, and the broker
            probe("database", database),
            probe("blobs", blobs),
        ]
    )


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


def _rejected_records(service: Service) -> int | None:
    """Log records rejected as not being commits: an operator's signal, never a reason to be unready."""
    try:
        return service.read(rejected_count)
    except AnnologError:
        return None


@router.get("/ready", summary="Readiness: the log, the database and the blob store are reachable")
def ready(service: ServiceDep) -> Response:
    checks = _checks(service)
    if all(state == "ok" for state in checks.values()):
        return JSONResponse({"status": "ready", **checks, "rejected_records": _rejected_records(service)})
    down = ", ".join(f"{name} ({state})" for name, state in checks.items() if state != "ok")
    return problem(503, "Not ready", f"not ready: {down}", error="UnavailableError", checks=checks)


@router.get("/me", response_model=Me, summary="The principal the token names")
def me(principal: PrincipalDep) -> Me:
    return Me(principal=principal.name, admin=principal.admin)


@router.post(
    "/tokens",
    response_model=IssuedToken,
    status_code=201,
    summary="Create a token (admins: for anyone); it expires no later than the caller's",
)
def create_token(body: NewToken, principal: PrincipalDep, tokens: TokensDep) -> IssuedToken:
    return tokens.create_for(principal, body.principal, expires_in=body.expires_in)


@router.get("/tokens", response_model=list[TokenInfo], summary="The caller's tokens (admins: anyone's), no secrets")
def list_tokens(
    principal: PrincipalDep,
    tokens: TokensDep,
    of: Annotated[str | None, Query(alias="principal", description="whose (default: the caller's)")] = None,
) -> list[TokenInfo]:
    return tokens.list_for(principal, of or principal.name)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke a token by its id (one's own; admins: anyone's); refused from the next request on",
)
def revoke_token(token_id: str, principal: PrincipalDep, tokens: TokensDep) -> Response:
    tokens.revoke(principal, token_id)
    return Response(status_code=204)
