"""The annolog SDK: versioned, mirrored, replayable training data.

>>> import annolog                                        # doctest: +SKIP
>>> client = annolog.Client("./annolog-data")             # doctest: +SKIP
>>> project = client.create_project("demo", labels=["dog"])  # doctest: +SKIP
"""

from annolog.client import Client
from annolog.dataset import Dataset, Slice
from annolog.directory import Directory
from annolog.file import File, Instance
from annolog.project import Project
from core.errors import (
    AccessDenied,
    AnnologError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
    UnavailableError,
)

__all__ = [
    "AccessDenied",
    "AnnologError",
    "Client",
    "ConflictError",
    "Dataset",
    "Directory",
    "File",
    "Instance",
    "InvalidInputError",
    "NotFoundError",
    "Project",
    "ReadOnlyError",
    "Slice",
    "UnavailableError",
]
