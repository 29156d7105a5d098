"""Bodies of the HTTP API that are not read models: shared by the server and the HTTP SDK."""

from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from core.commands import COMMANDS, Command
from core.errors import InvalidInputError


class CommandEnvelope(BaseModel):
    """One command on the wire: its name and its fields (ids included, so retries are safe)."""

    command: str = Field(examples=["AddInstance"])
    args: dict[str, Any] = Field(default_factory=dict)

    def parsed(self) -> Command:
        kind = COMMANDS.get(self.command)
        if kind is None:
            raise InvalidInputError(f"unknown command {self.command!r}; commands: {', '.join(sorted(COMMANDS))}")
        return kind(**self.args)

    @classmethod
    def of(cls, command: Command) -> "CommandEnvelope":
        return cls(command=type(command).__name__, args=command.model_dump(mode="json"))


class CommitRequest(BaseModel):
    """Commands committed together (all or nothing); resend the same ``commit_id`` to retry."""

    commands: list[CommandEnvelope] = Field(min_length=1)
    commit_id: UUID | None = None


class NewProject(BaseModel):
    name: str
    labels: list[str] = Field(default_factory=list)


class Lookup(BaseModel):
    """Files of a scope by id: a manifest page or ``ds[i]``."""

    version: int = Field(ge=1)
    directory_id: UUID | None = None
    query: str | None = None
    ids: list[UUID] = Field(max_length=10_000)


class NewToken(BaseModel):
    principal: str
    expires_in_s: int | None = Field(default=None, gt=0)

    @property
    def expires_in(self) -> timedelta | None:
        return None if self.expires_in_s is None else timedelta(seconds=self.expires_in_s)


class Me(BaseModel):
    principal: str
    admin: bool


class SavedSliceBody(BaseModel):
    query: str
    directory_id: UUID | None


class Ids(BaseModel):
    ids: list[UUID]


class Count(BaseModel):
    count: int


class Version(BaseModel):
    version: int


def cursor(value: str | None) -> tuple[int, int] | None:
    """A history cursor from its text, ``"<version>.<seq>"``."""
    if value is None:
        return None
    version, _, seq = value.partition(".")
    if not (version.isdigit() and seq.isdigit()):
        raise InvalidInputError(f"after must be '<version>.<seq>', e.g. '12.0', got {value!r}")
    return int(version), int(seq)
