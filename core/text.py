"""What text annolog stores: names without control characters, JSON without NUL.

Every string a command carries ends up in the log (Avro, UTF-8), in the views
(PostgreSQL, SQLite) and in URLs. PostgreSQL refuses NUL in text and ``\\u0000`` in JSON
operators, and UTF-8 cannot encode lone surrogates, so one such character accepted here
would fail the projector on every replay. They are refused where commands are built,
which the SDK, the HTTP API and the log reader all share.

>>> check_name("cars\\x00")
Traceback (most recent call last):
...
ValueError: must not contain control characters: found U+0000 at index 4
"""

import math
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, JsonValue

_NEVER = ("Cs",)  # lone surrogates: not encodable as UTF-8
_NOT_IN_NAMES = ("Cc", "Cs")  # control characters (NUL, TAB, newline, DEL…) and surrogates


def _first(value: str, categories: tuple[str, ...], also: str = "") -> tuple[int, str] | None:
    for index, char in enumerate(value):
        if char in also or unicodedata.category(char) in categories:
            return index, char
    return None


def _refuse(found: tuple[int, str] | None, what: str) -> None:
    if found is not None:
        index, char = found
        raise ValueError(f"must not contain {what}: found U+{ord(char):04X} at index {index}")


def check_name(value: str) -> str:
    """A name (project, label, directory, file, principal…): printable characters only."""
    if not value.isprintable():  # printable strings hold no Cc or Cs: the common case, in C
        _refuse(_first(value, _NOT_IN_NAMES), "control characters")
    return value


def check_text(value: str) -> str:
    """Free text (queries): newlines and tabs are fine, NUL and lone surrogates are not."""
    if "\x00" in value or not value.isascii():  # ASCII without NUL: the common case, in C
        _refuse(_first(value, _NEVER, also="\x00"), "NUL or unpaired surrogate characters")
    return value


def check_json(value: JsonValue, path: str = "") -> JsonValue:
    """JSON whose every key and string value passes ``check_text`` and whose numbers are finite
    (error names the key path): NaN and Infinity are not JSON, and PostgreSQL refuses them."""
    if isinstance(value, str):
        _at(path, value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'value'}: must be a finite number, got {value}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _at(f"{path + ' ' if path else ''}key {key!r}", key)
            check_json(item, f"{path}.{key}" if path else key)
    return value


def _at(path: str, text: str) -> None:
    try:
        check_text(text)
    except ValueError as exc:
        raise ValueError(f"{path or 'value'}: {exc}") from None


Name = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(check_name)]
"""A name shown to people and stored in the views."""


def check_path_segment(value: str) -> str:
    """A name that is one segment of an API path: a name without '/'."""
    if "/" in check_name(value):
        raise ValueError(f"must not contain '/': it is one segment of API paths (e.g. /projects/<name>); got {value!r}")
    return value


PathName = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(check_path_segment)]
"""A name that is one segment of an API path (projects, directories): no '/'."""

JsonObject = Annotated[dict[str, JsonValue], AfterValidator(check_json)]
"""Free-form JSON (file metadata, instance attributes) that every database can store."""
