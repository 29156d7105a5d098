"""Content-addressed blob stores (a local directory, S3) and probing of media bytes."""

from annolog.blobs.local import LocalBlobStore
from annolog.blobs.media import Media, probe
from annolog.blobs.s3 import S3BlobStore
from annolog.blobs.store import BlobStore

__all__ = ["BlobStore", "LocalBlobStore", "Media", "S3BlobStore", "probe"]
