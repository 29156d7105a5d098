"""Health, readiness, who-am-I and tokens."""

from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.http.deps import PrincipalDep, ServiceDep, TokensDep
from api.http.problems import problem
from api.service import Service
from api.wire import IssuedToken, Me, NewToken
from core.errors import AnnologError

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

    return dict(
        [
            probe("log", lambda: service.log.end(0)),
            probe("database", database),
            probe("blobs", lambda: service.blobs.exists(_NO_BLOB)),
        ]
    )


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the log, the database and the blob store are reachable")
def ready(service: ServiceDep) -> Response:
    checks = _checks(service)
    if all(state == "ok" for state in checks.values()):
        return JSONResponse({"status": "ready", **checks})
    down = ", ".join(f"{name} ({state})" for name, state in checks.items() if state != "ok")
    return problem(503, "Not ready", f"not ready: {down}", error="UnavailableError", checks=checks)


@router.get("/me", response_model=Me, summary="The principal the token names")
def me(principal: PrincipalDep) -> Me:
    return Me(principal=principal.name, admin=principal.admin)


@router.post("/tokens", response_model=IssuedToken, status_code=201, summary="Create a token (admins: for anyone)")
def create_token(body: NewToken, principal: PrincipalDep, tokens: TokensDep) -> IssuedToken:
    token = tokens.create_for(principal, body.principal, expires_in=body.expires_in)
    return IssuedToken(principal=body.principal, token=token)
