"""Content-addressed blob stores (a local directory, S3) and probing of media bytes."""

from blobs.local import LocalBlobStore
from blobs.media import Media, probe
from blobs.s3 import S3BlobStore
from blobs.store import BlobStore

__all__ = ["BlobStore", "LocalBlobStore", "Media", "S3BlobStore", "probe"]
