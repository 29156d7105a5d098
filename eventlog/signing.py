"""Signing log records: an HMAC-SHA256 over each record's key and value, under rotating key ids.

The broker's ACLs decide who may write the topic; the signature decides what the
projector believes. A record written around the ACLs (a misconfigured broker, a leaked
principal, a tool pointed at the wrong topic) does not carry a valid signature, so it is
rejected where it stands instead of being applied as some actor's commit.

The first key signs, every key verifies: to rotate, put a new key first and keep the old
ones for as long as records signed with them must replay (a replay verifies again).

>>> keys = SigningKeys.parse("2025:a-long-random-secret,2024:the-previous-secret")
>>> headers = [(HEADER, keys.sign(b"project", b"commit"))]
>>> keys.verify(b"project", b"commit", headers) is None
True
"""

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from annolog.core.errors import InvalidInputError

HEADER = "annolog-signature"
"""The Kafka record header that carries ``<key id>:<hex HMAC>``."""

MIN_SECRET_CHARS = 16
"""Shorter secrets are refused: a guessable key signs anything."""

_DOMAIN = b"annolog log record v1\x00"  # the MAC means "an annolog record", never some other message


def _mac(secret: bytes, key: bytes, value: bytes) -> str:
    # The key's length goes first, so no (key, value) split of the same bytes shares a MAC.
    message = _DOMAIN + len(key).to_bytes(4, "big") + key + value
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SigningKeys:
    """The keys records are signed and verified with, by key id; ``signing_id`` signs."""

    signing_id: str
    secrets: Mapping[str, bytes] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> "SigningKeys":
        """``kid:secret[,kid:secret…]`` (as in ``ANNOLOG_LOG_SIGNING_KEYS``); the first one signs.

        Errors name the entry by position, never its secret.
        """
        secrets: dict[str, bytes] = {}
        for number, entry in enumerate(text.split(","), start=1):
            kid, colon, secret = entry.strip().partition(":")
            if not colon or not kid or not secret:
                raise InvalidInputError(f"signing key entry {number} is not kid:secret")
            if len(secret) < MIN_SECRET_CHARS:
                raise InvalidInputError(
                    f"signing key {kid!r} has a secret of {len(secret)} characters; use at least {MIN_SECRET_CHARS}"
                )
            if kid in secrets:
                raise InvalidInputError(f"signing key id {kid!r} is listed twice")
            secrets[kid] = secret.encode()
        return cls(signing_id=next(iter(secrets)), secrets=secrets)

    def sign(self, key: bytes, value: bytes) -> bytes:
        """The header value that signs a record of ``key`` and ``value`` with the first key."""
        return f"{self.signing_id}:{_mac(self.secrets[self.signing_id], key, value)}".encode()

    def verify(self, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes | None]]) -> str | None:
        """Why the record is not authentic, or None when exactly one valid signature covers it.

        Headers come from whoever wrote the record: a null value (Kafka allows one) is unsigned too.
        """
        signatures = [header_value for name, header_value in headers if name == HEADER and header_value]
        if not signatures:
            return f"the record is unsigned (no {HEADER} header); only annolog serve's commits are signed"
        if len(signatures) > 1:
            return f"the record carries {len(signatures)} {HEADER} headers; a signed record has exactly one"
        kid, _, mac = signatures[0].decode("utf-8", "replace").partition(":")
        secret = self.secrets.get(kid)
        if secret is None:
            return f"the record is signed with key id {kid[:64]!r}, which is not one of the configured keys"
        if not hmac.compare_digest(mac.encode(), _mac(secret, key, value).encode()):
            return f"the record's signature (key id {kid!r}) does not match its key and value: it was altered or forged"
        return None
