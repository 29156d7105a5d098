"""What routes depend on: the service, the caller's principal (from its token), a session,
and parameters every route checks the same way."""

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from annolog.api.service import Service
from annolog.api.session import Session
from annolog.api.tokens import Principal, Tokens
from annolog.core.errors import NotAuthenticated
from annolog.core.events import INT32_MAX
from annolog.core.query import MAX_QUERY_LENGTH
from annolog.core.text import check_name, check_text
from annolog.projections.readmodels import Scope

_bearer = HTTPBearer(auto_error=False, description="an API token from `annolog token create`")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


def _token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str | None:
    return credentials.credentials if credentials else None


def _principal(tokens: Annotated[Tokens, Depends(_tokens)], token: Annotated[str | None, Depends(_token)]) -> Principal:
    return tokens.authenticate(token)


def token_holds(tokens: Tokens, token: str | None) -> Callable[[], bool]:
    """Whether ``token`` is still valid, asked again later: a response that lasts (a live
    stream) must end once its token is revoked or expires."""

    def holds() -> bool:
        try:
            tokens.authenticate(token)
        except NotAuthenticated:
            return False
        return True

    return holds


def _token_holds(
    tokens: Annotated[Tokens, Depends(_tokens)], token: Annotated[str | None, Depends(_token)]
) -> Callable[[], bool]:
    return token_holds(tokens, token)


ServiceDep = Annotated[Service, Depends(_service)]
TokensDep = Annotated[Tokens, Depends(_tokens)]
PrincipalDep = Annotated[Principal, Depends(_principal)]
TokenHoldsDep = Annotated[Callable[[], bool], Depends(_token_holds)]


def _session(service: ServiceDep, principal: PrincipalDep) -> Session:
    return Session(service, principal.name)


SessionDep = Annotated[Session, Depends(_session)]


def printable_parameters(request: Request) -> None:
    """Refuse control characters in path and query parameters with a 422 that names each one.

    No name holds one (core refuses them), so such a value can only be a mistake; and NUL
    would reach PostgreSQL as an error rather than as "not found". Slice queries are free
    text: newlines and tabs are whitespace there, NUL is refused all the same.
    """
    wrong: list[dict[str, Any]] = []
    for where, items in (("path", request.path_params.items()), ("query", request.query_params.multi_items())):
        for name, value in items:
            try:
                (check_text if name == "query" else check_name)(value)
            except ValueError as error:
                wrong.append({"loc": (where, name), "msg": str(error), "type": "value_error", "input": value})
    if wrong:
        raise RequestValidationError(wrong)


VersionQuery = Annotated[int, Query(ge=1, le=INT32_MAX, description="a version number (resolve tags first)")]
"""A version as a query parameter: versions are 32-bit in the views, as core's ``Version``."""
SliceQueryParameter = Annotated[
    str | None,
    Query(max_length=MAX_QUERY_LENGTH, description="a slice query, e.g. labels.car > 3; long ones: POST …/query"),
]


def _scope(
    project: str,
    version: VersionQuery,
    directory: Annotated[UUID | None, Query(description="a directory id; without it, every readable one")] = None,
    query: SliceQueryParameter = None,
) -> Scope:
    return Scope(project=project, version=version, directory_id=directory, query=query)


ScopeDep = Annotated[Scope, Depends(_scope)]
