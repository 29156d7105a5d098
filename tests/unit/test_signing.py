"""Log records signed by the service: what verifies, what is refused, and how keys rotate."""

import hmac
from unittest import mock

import pytest

from annolog.api.settings import load_settings
from annolog.core.errors import ConfigurationError, InvalidInputError
from annolog.eventlog.signing import HEADER, SigningKeys

NEW = "new:" + "n" * 32
OLD = "old:" + "o" * 32


def _signed(keys: SigningKeys, key: bytes = b"project", value: bytes = b"commit") -> list[tuple[str, bytes]]:
    return [(HEADER, keys.sign(key, value))]


def test_a_record_signed_with_the_first_key_verifies() -> None:
    keys = SigningKeys.parse(f"{NEW},{OLD}")
    assert keys.signing_id == "new"
    assert keys.sign(b"project", b"commit").startswith(b"new:")
    assert keys.verify(b"project", b"commit", _signed(keys)) is None


def test_a_record_signed_with_a_retired_key_still_verifies_after_rotation() -> None:
    before = SigningKeys.parse(OLD)
    after = SigningKeys.parse(f"{NEW},{OLD}")
    assert after.verify(b"project", b"commit", _signed(before)) is None


def test_a_record_signed_with_an_unknown_key_id_is_refused() -> None:
    stranger = SigningKeys.parse("stranger:" + "s" * 32)
    reason = SigningKeys.parse(NEW).verify(b"project", b"commit", _signed(stranger))
    assert reason is not None and "key id 'stranger'" in reason and "not one of the configured keys" in reason


def test_a_key_id_known_but_signed_with_another_secret_is_refused() -> None:
    forger = SigningKeys.parse("new:" + "f" * 32)
    reason = SigningKeys.parse(NEW).verify(b"project", b"commit", _signed(forger))
    assert reason is not None and "does not match" in reason


@pytest.mark.parametrize(
    ("key", "value"),
    [(b"project", b"commit!"), (b"other", b"commit"), (b"projec", b"tcommit")],
    ids=["tampered value", "other key", "same bytes split differently"],
)
def test_a_signature_does_not_cover_another_record(key: bytes, value: bytes) -> None:
    keys = SigningKeys.parse(NEW)
    reason = keys.verify(key, value, _signed(keys))
    assert reason is not None and "altered or forged" in reason


def test_an_unsigned_record_is_refused() -> None:
    reason = SigningKeys.parse(NEW).verify(b"project", b"commit", [("other", b"x")])
    assert reason is not None and "unsigned" in reason


def test_a_signature_header_without_a_value_is_unsigned() -> None:
    reason = SigningKeys.parse(NEW).verify(b"project", b"commit", [(HEADER, None)])
    assert reason is not None and "unsigned" in reason


def test_a_record_with_two_signatures_is_refused_even_if_one_is_valid() -> None:
    keys = SigningKeys.parse(NEW)
    headers = _signed(keys) + [(HEADER, b"new:" + b"0" * 64)]
    reason = keys.verify(b"project", b"commit", headers)
    assert reason is not None and "2 annolog-signature headers" in reason


def test_signatures_are_compared_in_constant_time() -> None:
    keys = SigningKeys.parse(NEW)
    with mock.patch("annolog.eventlog.signing.hmac.compare_digest", wraps=hmac.compare_digest) as compare:
        assert keys.verify(b"project", b"commit!", _signed(keys)) is not None
    compare.assert_called_once()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-colon-here-at-all", "entry 1 is not kid:secret"),
        (f"{NEW},:{'x' * 32}", "entry 2 is not kid:secret"),
        ("short:tooshort", "has a secret of 8 characters; use at least 16"),
        (f"{NEW},{NEW}", "'new' is listed twice"),
    ],
)
def test_bad_key_lists_are_refused_without_showing_a_secret(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as error:
        SigningKeys.parse(text)
    assert "n" * 32 not in str(error.value) and "tooshort" not in str(error.value)


def test_secrets_are_not_in_the_keys_repr() -> None:
    assert "n" * 32 not in repr(SigningKeys.parse(NEW))


def test_a_bad_signing_key_setting_is_named_by_its_variable_and_its_secret_is_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANNOLOG_LOG_SIGNING_KEYS", f"{NEW},old:hunter2")
    with pytest.raises(ConfigurationError, match="ANNOLOG_LOG_SIGNING_KEYS: signing key 'old' has a secret") as error:
        load_settings()
    assert "hunter2" not in str(error.value) and "n" * 32 not in str(error.value)
