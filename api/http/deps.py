"""What routes depend on: the service, the caller's principal (from its token), a session."""

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.service import Service
from api.session import Session
from api.tokens import Principal, Tokens
from projections.readmodels import Scope

_bearer = HTTPBearer(auto_error=False, description="an API token from `annolog token create`")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


def _principal(
    tokens: Annotated[Tokens, Depends(_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return tokens.authenticate(credentials.credentials if credentials else None)


ServiceDep = Annotated[Service, Depends(_service)]
TokensDep = Annotated[Tokens, Depends(_tokens)]
PrincipalDep = Annotated[Principal, Depends(_principal)]


def _session(service: ServiceDep, principal: PrincipalDep) -> Session:
    return Session(service, principal.name)


SessionDep = Annotated[Session, Depends(_session)]


def _scope(
    project: str,
    version: Annotated[int, Query(ge=1, description="the version read (resolve tags first)")],
    directory: Annotated[UUID | None, Query(description="a directory id; without it, every readable one")] = None,
    query: Annotated[str | None, Query(description="a slice query, e.g. labels.car > 3")] = None,
) -> Scope:
    return Scope(project=project, version=version, directory_id=directory, query=query)


ScopeDep = Annotated[Scope, Depends(_scope)]
