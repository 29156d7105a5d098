"""Content-addressed blob stores (a local directory, S3), probing of media bytes, and thumbnails."""

from annolog.blobs.local import LocalBlobStore
from annolog.blobs.media import Media, probe
from annolog.blobs.s3 import S3BlobStore
from annolog.blobs.store import BlobStore
from annolog.blobs.thumbnail_cache import ThumbnailCache
from annolog.blobs.thumbnails import THUMBNAIL_SIZES, Thumbnail, make_thumbnail

__all__ = [
    "THUMBNAIL_SIZES",
    "BlobStore",
    "LocalBlobStore",
    "Media",
    "S3BlobStore",
    "Thumbnail",
    "ThumbnailCache",
    "make_thumbnail",
    "probe",
]
