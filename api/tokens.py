"""API tokens: random secrets shown once, stored only as their sha256.

A token names a principal (the actor of every commit made with it) and may expire. A
server admin token may create tokens for anyone; roles in projects are separate and come
from ``GrantRole`` events. A token made with another never outlives it, and a revoked
token is deleted, so the next request with it is refused (every request reads the table).
A token's id, the start of its sha256, names it in lists and revocations without being
a secret. Tokens live in a table of their own, outside the projected
views: credentials must never enter the immutable log, and a replay must not need them.
A fast hash is right here (unlike passwords): a token has 256 random bits, so there is
nothing to guess, and lookups stay one indexed read per request.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Boolean, Column, Engine, MetaData, String, Table, delete, insert, select

from annolog.core.errors import AccessDenied, InvalidInputError, NotAuthenticated, NotFoundError
from annolog.projections.database import create_tables, database_errors
from annolog.projections.tables import UtcDateTime

PREFIX = "al_"
"""Every annolog token starts with this, so secret scanners and people can recognise one."""

ID_CHARS = 16
"""Hex characters of a token's sha256 that make its id: 64 bits, so ids do not collide."""

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
    """Who a token proves the caller is; ``admin`` may create and revoke tokens for others.
    ``expires_at`` is when the token used expires: tokens it makes expire no later."""

    name: str
    admin: bool = False
    expires_at: datetime | None = None


class IssuedToken(BaseModel):
    """A new token: the secret (shown this once), its id and when it expires (None: never)."""

    model_config = ConfigDict(frozen=True)

    principal: str
    token: str
    token_id: str
    expires_at: datetime | None


class TokenInfo(BaseModel):
    """What may be shown of a stored token: never the secret, nor its whole hash."""

    model_config = ConfigDict(frozen=True)

    token_id: str
    principal: str
    admin: bool
    created_by: str
    created_at: datetime
    expires_at: datetime | None


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """The id of ``token`` (``annolog token revoke`` takes either)."""
    return _sha256(token)[:ID_CHARS]


def _checked_id(value: str) -> str:
    if len(value) != ID_CHARS or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInputError(f"a token id is {ID_CHARS} lowercase hex characters, got {value!r}")
    return value


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


class Tokens:
    """Issuing and checking API tokens in the views' database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        create_tables(engine, _metadata, "the token table")

    def create(
        self, principal: str, *, created_by: str, admin: bool = False, expires_in: timedelta | None = None
    ) -> str:
        """A new token for ``principal``; the only time the secret exists outside its holder."""
        return self._issue(principal, created_by=created_by, admin=admin, expires_in=expires_in).token

    def create_for(self, caller: Principal, principal: str, *, expires_in: timedelta | None = None) -> IssuedToken:
        """A token made through the API: anyone for themselves, admins for anyone (never admin ones).

        It expires no later than the caller's own token, so a short-lived token cannot mint
        a lasting one.
        """
        if principal != caller.name and not caller.admin:
            raise AccessDenied(f"{caller.name} may not create tokens for {principal!r}: that needs a server admin")
        return self._issue(principal, created_by=caller.name, expires_in=expires_in, not_after=caller.expires_at)

    def _issue(
        self,
        principal: str,
        *,
        created_by: str,
        admin: bool = False,
        expires_in: timedelta | None,
        not_after: datetime | None = None,
    ) -> IssuedToken:
        if not principal.strip():
            raise InvalidInputError("a token needs a principal name, got an empty one")
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidInputError(f"expires_in must be positive, got {expires_in}")
        token = PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires_at = _earliest(None if expires_in is None else now + expires_in, not_after)
        with database_errors(self._engine, "store a token"), self._engine.begin() as db:
            db.execute(
                insert(api_tokens).values(
                    token_sha256=_sha256(token),
                    principal=principal,
                    admin=admin,
                    created_by=created_by,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return IssuedToken(principal=principal, token=token, token_id=token_id(token), expires_at=expires_at)

    def list_for(self, caller: Principal, principal: str) -> list[TokenInfo]:
        """``principal``'s tokens, oldest first: one's own, or anyone's for a server admin."""
        if principal != caller.name and not caller.admin:
            raise AccessDenied(f"{caller.name} may not list the tokens of {principal!r}: that needs a server admin")
        query = select(api_tokens).where(api_tokens.c.principal == principal).order_by(api_tokens.c.created_at)
        with database_errors(self._engine, "list tokens"), self._engine.connect() as db:
            rows = db.execute(query).all()
        return [
            TokenInfo(
                token_id=r.token_sha256[:ID_CHARS],
                principal=r.principal,
                admin=r.admin,
                created_by=r.created_by,
                created_at=r.created_at,
                expires_at=r.expires_at,
            )
            for r in rows
        ]

    def revoke(self, caller: Principal, token_id: str) -> None:
        """Revoke the token with ``token_id``: one's own, or anyone's for a server admin.

        Another principal's token is "not found" to a non-admin: an id tells nothing of whose it is.
        """
        match = api_tokens.c.token_sha256.startswith(_checked_id(token_id))
        if not caller.admin:
            match &= api_tokens.c.principal == caller.name
        with database_errors(self._engine, "revoke a token"), self._engine.begin() as db:
            revoked = db.execute(delete(api_tokens).where(match)).rowcount
        if not revoked:
            raise NotFoundError(f"{caller.name} has no token with id {token_id!r} to revoke")

    def revoke_all(self, principal: str) -> int:
        """Revoke every token of ``principal`` (a server admin's last resort); how many there were."""
        with database_errors(self._engine, "revoke tokens"), self._engine.begin() as db:
            return int(db.execute(delete(api_tokens).where(api_tokens.c.principal == principal)).rowcount)

    def authenticate(self, token: str | None) -> Principal:
        """The principal ``token`` names; ``NotAuthenticated`` when it is missing, unknown or expired."""
        if not token:
            raise NotAuthenticated("this needs an API token: send 'Authorization: Bearer <token>'")
        with database_errors(self._engine, "check the token"), self._engine.connect() as db:
            row = db.execute(select(api_tokens).where(api_tokens.c.token_sha256 == _sha256(token))).first()
        if row is None:
            raise NotAuthenticated(
                "the API token is not known here (or was revoked); create one with `annolog token create`"
            )
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            raise NotAuthenticated(f"the API token of {row.principal} expired at {row.expires_at.isoformat()}")
        return Principal(row.principal, row.admin, row.expires_at)
