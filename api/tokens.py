"""API tokens: random secrets shown once, stored only as their sha256.

A token names a principal (the actor of every commit made with it) and may expire. A
server admin token may create tokens for anyone; roles in projects are separate and come
from ``GrantRole`` events. Tokens live in a table of their own, outside the projected
views: credentials must never enter the immutable log, and a replay must not need them.
A fast hash is right here (unlike passwords): a token has 256 random bits, so there is
nothing to guess, and lookups stay one indexed read per request.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Boolean, Column, Engine, MetaData, String, Table, insert, select

from core.errors import AccessDenied, InvalidInputError, NotAuthenticated
from projections.database import database_errors
from projections.tables import UtcDateTime

PREFIX = "al_"
"""Every annolog token starts with this, so secret scanners and people can recognise one."""

_metadata = MetaData()
api_tokens = Table(
    "api_tokens",
    _metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("principal", String(500), nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("created_by", String(500), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
)


@dataclass(frozen=True)
class Principal:
    """Who a token proves the caller is; ``admin`` may create tokens for others."""

    name: str
    admin: bool = False


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Issuing and checking API tokens in the views' database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        with database_errors(engine, "create the token table"):
            _metadata.create_all(engine)

    def create(
        self, principal: str, *, created_by: str, admin: bool = False, expires_in: timedelta | None = None
    ) -> str:
        """A new token for ``principal``; the only time the secret exists outside its holder."""
        if not principal.strip():
            raise InvalidInputError("a token needs a principal name, got an empty one")
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidInputError(f"expires_in must be positive, got {expires_in}")
        token = PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with database_errors(self._engine, "store a token"), self._engine.begin() as db:
            db.execute(
                insert(api_tokens).values(
                    token_sha256=_sha256(token),
                    principal=principal,
                    admin=admin,
                    created_by=created_by,
                    created_at=now,
                    expires_at=None if expires_in is None else now + expires_in,
                )
            )
        return token

    def create_for(self, caller: Principal, principal: str, *, expires_in: timedelta | None = None) -> str:
        """A token made through the API: anyone for themselves, admins for anyone (never admin ones)."""
        if principal != caller.name and not caller.admin:
            raise AccessDenied(f"{caller.name} may not create tokens for {principal!r}: that needs a server admin")
        return self.create(principal, created_by=caller.name, expires_in=expires_in)

    def authenticate(self, token: str | None) -> Principal:
        """The principal ``token`` names; ``NotAuthenticated`` when it is missing, unknown or expired."""
        if not token:
            raise NotAuthenticated("this needs an API token: send 'Authorization: Bearer <token>'")
        with database_errors(self._engine, "check the token"), self._engine.connect() as db:
            row = db.execute(select(api_tokens).where(api_tokens.c.token_sha256 == _sha256(token))).first()
        if row is None:
            raise NotAuthenticated("the API token is not known here; create one with `annolog token create`")
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            raise NotAuthenticated(f"the API token of {row.principal} expired at {row.expires_at.isoformat()}")
        return Principal(row.principal, row.admin)
