"""The base of every core record: frozen, strict about unknown fields, our errors only."""

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from annolog.core.errors import InvalidInputError

INT32_MAX = 2**31 - 1
"""The largest version, revision, pixel size or video frame: what a 32-bit database integer holds."""

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""A blob's name: the hex sha256 of its bytes."""


def describe_validation_error(model: str, exc: ValidationError, *, field_name: Callable[[str], str] = str) -> str:
    """One readable line per problem: which model, which field, what was wrong and the value.

    ``field_name`` renames a field's path for the reader (settings name their env variable).
    """
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            field = field_name(".".join(str(part) for part in error["loc"]))
            message = f"{field}: {message} (got {error.get('input')!r})"
        problems.append(message)
    return f"invalid {model}: " + "; ".join(problems)


class Model(BaseModel):
    """Frozen pydantic model that raises ``InvalidInputError`` instead of pydantic's error.

    Commands and events are values: they never change after construction, and unknown
    fields are an error rather than silently dropped (a typo must not lose a label).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidInputError(describe_validation_error(type(self).__name__, exc)) from exc

    # For a nested model given as a dict, pydantic calls an __init__ the model overrides in
    # place of its own field validation, and the model's after-validators then ran a second
    # time (each event decoded inside its commit had its geometry checked twice: a fifth of
    # decoding). This one only maps the error, which the outermost call does for the whole
    # tree, naming each field's path: mark it as pydantic's own __init__, whose flag this is.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]
