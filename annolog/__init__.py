"""The annolog SDK: versioned, mirrored, replayable training data.

>>> import annolog                                        # doctest: +SKIP
>>> client = annolog.Client("./annolog-data")             # doctest: +SKIP
>>> project = client.create_project("demo", labels=["dog"])  # doctest: +SKIP
"""

from annolog.array import Array
from annolog.client import Client
from annolog.core.errors import (
    AccessDenied,
    AnnologError,
    BlobStoreUnavailable,
    CommitTooLarge,
    ConfigurationError,
    ConflictError,
    CorruptBlob,
    DatabaseUnavailable,
    InvalidInputError,
    JudgeFailed,
    LogError,
    LogMisconfigured,
    LogUnavailable,
    MissingExtra,
    NotAuthenticated,
    NotFoundError,
    ReadOnlyError,
    UnavailableError,
    UndecodableRecord,
)
from annolog.core.query import QueryError
from annolog.dataset import Dataset, Slice
from annolog.directory import Directory
from annolog.file import File, Instance
from annolog.project import Project

__all__ = [
    "AccessDenied",
    "AnnologError",
    "Array",
    "BlobStoreUnavailable",
    "Client",
    "CommitTooLarge",
    "ConfigurationError",
    "ConflictError",
    "CorruptBlob",
    "DatabaseUnavailable",
    "Dataset",
    "Directory",
    "File",
    "Instance",
    "InvalidInputError",
    "JudgeFailed",
    "LogError",
    "LogMisconfigured",
    "LogUnavailable",
    "MissingExtra",
    "NotAuthenticated",
    "NotFoundError",
    "Project",
    "QueryError",
    "ReadOnlyError",
    "Slice",
    "UnavailableError",
    "UndecodableRecord",
]
