"""Bodies of the HTTP API that are not read models: shared by the server and the HTTP SDK."""

import re
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field

from annolog.core.arrays import ChunkKey
from annolog.core.commands import COMMANDS, Command
from annolog.core.errors import InvalidInputError
from annolog.core.events import INT32_MAX
from annolog.core.query import MAX_QUERY_LENGTH
from annolog.core.text import Name, PathName, check_text
from annolog.projections.readmodels import Scope


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
    """Core's own name types, so the OpenAPI documents the rules and a 422 names the field."""

    name: PathName
    labels: list[Name] = Field(default_factory=list)


QueryText = Annotated[str, Field(max_length=MAX_QUERY_LENGTH), AfterValidator(check_text)]
"""A slice query in a body: bounded as in a URL, and free text (newlines are whitespace), never NUL."""


class ScopeBody(BaseModel):
    """A dataset (a directory, or a slice, at a version) in a body rather than a URL: the longest
    slice query is 120 kB percent-encoded, and uvicorn refuses request lines past 64 kB."""

    version: int = Field(ge=1, le=INT32_MAX)
    directory_id: UUID | None = None
    query: QueryText | None = None

    def scope(self, project: str) -> Scope:
        return Scope(project=project, version=self.version, directory_id=self.directory_id, query=self.query)


class PageRequest(ScopeBody):
    """A keyset page of the dataset's file ids: those after ``after``, in id order."""

    after: UUID | None = None
    limit: int | None = Field(default=None, ge=1, le=100_000)


class Lookup(ScopeBody):
    """Files of a scope by id: a manifest page or ``ds[i]``."""

    ids: list[UUID] = Field(max_length=10_000)


TOKEN_LIFETIME_MAX = timedelta(days=36_525)
"""The longest a token may be made to live, 100 years: dates end at year 9999, and a token
that should never expire is made without an expiry."""


class NewToken(BaseModel):
    principal: Name
    expires_in_s: int | None = Field(
        default=None, gt=0, le=int(TOKEN_LIFETIME_MAX.total_seconds()), description="seconds until it expires"
    )

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


CHUNKS_PER_LOOKUP = 10_000
"""The most chunk keys one lookup names: the HTTP SDK asks for more in several."""


class ChunkLookup(BaseModel):
    """Chunks of an array by key; None asks for every written one (what a resize clears)."""

    chunks: list[ChunkKey] | None = Field(max_length=CHUNKS_PER_LOOKUP)


class StoredChunk(BaseModel):
    sha256: str


def cursor(value: str | None) -> tuple[int, int] | None:
    """A history cursor from its text, ``"<version>.<seq>"``."""
    if value is None:
        return None
    found = re.fullmatch(r"([0-9]{1,10})\.([0-9]{1,10})", value)  # not \d, which takes '¹' and '٣'
    if found is None or max(int(found[1]), int(found[2])) > INT32_MAX:  # both are 32-bit in the views
        raise InvalidInputError(f"after must be '<version>.<seq>', e.g. '12.0', got {value[:40]!r}")
    return int(found[1]), int(found[2])
