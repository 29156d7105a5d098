"""Masks between numpy and core's COCO RLE: pycocotools encodes, decodes and measures them.

Core holds a mask as COCO's compressed RLE plus the area and box pycocotools derives; this
module is the one place that turns pixels into that and back, so the SDK, the COCO importer
and the exporters agree to the pixel. It needs the ``masks`` extra (numpy, pycocotools).
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from annolog.core.errors import InvalidInputError
from annolog.core.mask import INLINE_COUNTS, Mask, in_blob
from annolog.extras import require
from annolog.projections.readmodels import MaskView

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def _coco() -> Any:
    require("masks", "masks", "numpy", "pycocotools")
    from pycocotools import mask as coco_mask

    return coco_mask


def _measured(rle: dict[str, Any]) -> Mask:
    coco = _coco()
    x, y, w, h = (int(v) for v in coco.toBbox(rle))
    height, width = rle["size"]
    return Mask(size=(height, width), counts=rle["counts"].decode("ascii"), area=int(coco.area(rle)), bbox=(x, y, w, h))


def encode(pixels: "npt.ArrayLike") -> Mask:
    """The mask of a height x width array: non-zero (or True) pixels are set.

    >>> encode([[0, 1, 1], [0, 1, 0]]).area  # doctest: +SKIP
    3
    """
    coco = _coco()
    import numpy as np

    array = np.asarray(pixels)
    if array.ndim != 2 or 0 in array.shape:
        raise InvalidInputError(f"a mask is a height x width array of pixels, got shape {array.shape}")
    return _measured(coco.encode(np.asfortranarray(array != 0, dtype=np.uint8)))


def decode(mask: Mask | MaskView) -> "np.ndarray[Any, np.dtype[np.bool_]]":
    """The height x width bool array of ``mask``.

    Core cannot tell run lengths that overrun the mask from good ones (it never decodes), so a
    hand-made command may carry them; pycocotools refuses them here, and so does this.
    """
    counts = _counts(mask)
    try:
        decoded = _coco().decode({"size": list(mask.size), "counts": counts})
    except ValueError as exc:
        raise InvalidInputError(f"mask counts {counts[:40]!r}... are not a valid COCO RLE of size {mask.size}") from exc
    return decoded.astype(bool)  # type: ignore[no-any-return]


def _counts(mask: Mask | MaskView) -> bytes:
    """The counts pycocotools reads; those of a mask kept as a blob must have been fetched first."""
    if mask.counts is None:
        raise InvalidInputError(
            f"this mask's counts are the blob {mask.counts_sha256}, not at hand: read them through its instance "
            "(instance.rle), or a pinned reader's views(..., masks=True)"
        )
    return mask.counts.encode("ascii")


def counts_digest(mask: Mask | MaskView) -> str:
    """The sha256 of a mask's counts — the name of its blob, or the one it would have — read from
    the mask, never from a blob: what compares two masks without fetching either."""
    if mask.counts_sha256 is not None:
        return mask.counts_sha256
    return hashlib.sha256(_counts(mask)).hexdigest()


def kept(mask: Mask, store: Callable[[bytes], object]) -> Mask:
    """``mask`` as the SDK commits it: inline up to ``INLINE_COUNTS`` characters of counts, else
    its counts handed to ``store`` (an upload to the project) and the mask naming their blob."""
    if mask.counts is None or len(mask.counts) <= INLINE_COUNTS:
        return mask
    named, data = in_blob(mask)
    store(data)
    return named


def from_coco(rle: Mapping[str, Any]) -> Mask:
    """A COCO ``segmentation`` RLE — compressed (``counts`` a string) or not (a list of run lengths)."""
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise InvalidInputError(f"an RLE needs size [height, width] of positive integers, got {size!r}")
    height, width = size
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
            raise InvalidInputError(
                f"an uncompressed RLE's counts are run lengths adding up to {height}x{width} = {height * width}; "
                f"got {len(counts)} counts adding up to {sum(c for c in counts if isinstance(c, int))}"
            )
        return _measured(_coco().frPyObjects({"size": [height, width], "counts": counts}, height, width))
    if isinstance(counts, str):
        checked = Mask(size=(height, width), counts=counts, area=0, bbox=(0, 0, 0, 0))  # the alphabet first
        decode(checked)  # and that its runs fill the mask, no more and no less
        return _measured({"size": [height, width], "counts": counts.encode("ascii")})
    raise InvalidInputError(f"an RLE's counts are a string (compressed) or a list of run lengths, got {counts!r}")


def from_polygons(rings: Sequence[Sequence[float]], height: int, width: int) -> Mask:
    """The mask COCO's tools draw for ``rings`` (flat x, y lists): what COCOeval compares polygons by."""
    coco = _coco()
    return _measured(coco.merge(coco.frPyObjects([list(r) for r in rings], height, width)))


Region = MaskView | Sequence[Sequence[float]]
"""What ``stack`` draws: a stored mask, or a polygon's rings as flat x, y lists."""


def stack(regions: Sequence[Region], height: int, width: int) -> "np.ndarray[Any, np.dtype[np.uint8]]":
    """The N x height x width uint8 masks of ``regions``, 1 inside: what torchvision's Mask R-CNN
    takes as ``target["masks"]``. Polygons are drawn as COCO's tools draw them (``from_polygons``),
    and everything is decoded in one pycocotools call."""
    coco = _coco()
    import numpy as np

    if not regions:
        return np.zeros((0, height, width), dtype=np.uint8)
    rles = [_rle(region, height, width) for region in regions]
    try:
        decoded = coco.decode(rles)
    except ValueError as exc:  # run lengths that overrun their mask (see ``decode``)
        raise InvalidInputError(f"a mask is not a valid COCO RLE of size {height}x{width}: {exc}") from exc
    return np.ascontiguousarray(decoded.transpose(2, 0, 1))


def _rle(region: Region, height: int, width: int) -> dict[str, Any]:
    if isinstance(region, MaskView):
        return {"size": list(region.size), "counts": _counts(region)}
    coco = _coco()
    return coco.merge(coco.frPyObjects([list(ring) for ring in region], height, width))  # type: ignore[no-any-return]
