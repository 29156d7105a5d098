"""The server's disk cache of thumbnails by (sha256, size), shared by its processes on one machine."""

from functools import cached_property
from pathlib import Path

import diskcache

from annolog.blobs.thumbnails import Thumbnail

THUMBNAIL_CACHE_BYTES = 2**30
"""Bounded: at ~10 KB a thumbnail, a gigabyte holds about 100,000 of them."""


class ThumbnailCache:
    """Thumbnails kept on disk by the sha256 of the original and the size: the bytes of a
    sha256 never change, so an entry never goes stale and is only ever evicted for room.

    A thin face over ``diskcache.Cache``, whose SQLite index lets every `annolog serve`
    worker of a machine share one cache safely.
    """

    def __init__(self, directory: Path, *, size_limit: int = THUMBNAIL_CACHE_BYTES) -> None:
        self.directory, self.size_limit = directory, size_limit

    @cached_property
    def _cache(self) -> diskcache.Cache:
        """Opened on first use: an SDK client of an embedded data directory that never asks for
        a thumbnail leaves no cache behind. (Two threads racing here open two handles on the
        same directory; both are sound, and the loser's is closed when collected.)"""
        # Evicted oldest-stored first, not least-recently-used: LRU writes the index on every
        # hit, and those writes would serialise the server's processes on warm reads.
        return diskcache.Cache(str(self.directory), size_limit=self.size_limit, eviction_policy="least-recently-stored")

    def get(self, sha256: str, size: int) -> Thumbnail | None:
        """The thumbnail stored for ``sha256`` at ``size``, or None."""
        data, media_type = self._cache.get(_key(sha256, size), tag=True)
        if not isinstance(data, bytes) or not isinstance(media_type, str):
            return None
        return Thumbnail(sha256=sha256, size=size, media_type=media_type, data=data)

    def put(self, thumbnail: Thumbnail) -> None:
        self._cache.set(_key(thumbnail.sha256, thumbnail.size), thumbnail.data, tag=thumbnail.media_type)

    def close(self) -> None:
        if "_cache" in self.__dict__:  # never opened: nothing to close
            self._cache.close()


def _key(sha256: str, size: int) -> str:
    return f"{sha256}-{size}"
