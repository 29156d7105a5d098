"""Where `annolog token` creates and revokes: the stack's token table, or an annolog server.

Without ``ANNOLOG_SERVER_URL`` the commands write the token table directly, as whoever can
reach the database may (that is how the first admin token is made). With it, they go through
the server's /tokens routes as ``ANNOLOG_TOKEN``'s principal, so the server's rules hold:
one's own tokens, or anyone's for a server admin, and no admin tokens.
"""

from datetime import timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import Engine

from annolog.api.tokens import IssuedToken, Principal, TokenInfo, Tokens, token_id
from annolog.core.errors import ConfigurationError
from annolog.http import TIMEOUT, request


class TokenStore(Protocol):
    """What `annolog token` needs of either place: the same commands, two transports."""

    def create(self, principal: str, *, admin: bool, expires_in: timedelta | None) -> str:
        """A new token for ``principal``: the secret, shown this once."""

    def revoke(self, key: str) -> None:
        """Revoke the token whose id is ``key``."""

    def revoke_all(self, principal: str) -> int:
        """Revoke every token of ``principal``; how many there were."""

    def close(self) -> None: ...


class DatabaseTokens:
    """The token table in the views' database; reaching it is the right to any token."""

    def __init__(self, engine: Engine) -> None:
        self._engine, self._tokens = engine, Tokens(engine)

    def create(self, principal: str, *, admin: bool, expires_in: timedelta | None) -> str:
        return self._tokens.create(principal, created_by="annolog token create", admin=admin, expires_in=expires_in)

    def revoke(self, key: str) -> None:
        self._tokens.revoke(Principal("annolog token revoke", admin=True), key)

    def revoke_all(self, principal: str) -> int:
        return self._tokens.revoke_all(principal)

    def close(self) -> None:
        self._engine.dispose()


class ServerTokens:
    """The /tokens routes of the server at ``url``, as the principal ``token`` names."""

    def __init__(self, url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT)
        self._own = token_id(token) if token else None

    def create(self, principal: str, *, admin: bool, expires_in: timedelta | None) -> str:
        """The server caps the token's life at the caller's token's, and never makes an admin one."""
        if admin:
            raise ConfigurationError(
                f"the API of {self._http.base_url} makes no admin tokens: run `annolog token create --admin` "
                "with ANNOLOG_SERVER_URL unset (env -u ANNOLOG_SERVER_URL annolog …), where the stack's "
                "ANNOLOG_* settings are"
            )
        body: dict[str, Any] = {"principal": principal}
        if expires_in is not None:
            body["expires_in_s"] = round(expires_in.total_seconds())
        return IssuedToken.model_validate(self._send("POST", "/tokens", json=body).json()).token

    def revoke(self, key: str) -> None:
        """One not the caller's to revoke is not found."""
        self._send("DELETE", f"/tokens/{key}")

    def revoke_all(self, principal: str) -> int:
        """The tokens listed now, one by one; the caller's own last, since the requests before need it."""
        listed = self._send("GET", "/tokens", params={"principal": principal}).json()
        keys = [TokenInfo.model_validate(t).token_id for t in listed]
        for key in sorted(keys, key=lambda k: k == self._own):
            self.revoke(key)
        return len(keys)

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return request(self._http, method, path, **kwargs)
