"""Masks between numpy and core's COCO RLE: pycocotools encodes, decodes and measures them.

Core holds a mask as COCO's compressed RLE plus the area and box pycocotools derives; this
module is the one place that turns pixels into that and back, so the SDK, the COCO importer
and the exporters agree to the pixel. It needs the ``masks`` extra (numpy, pycocotools).
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from annolog.core.errors import InvalidInputError
from annolog.core.mask import Mask
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
    try:
        decoded = _coco().decode({"size": list(mask.size), "counts": mask.counts.encode("ascii")})
    except ValueError as exc:
        raise InvalidInputError(
            f"mask counts {mask.counts[:40]!r}... are not a valid COCO RLE of size {mask.size}"
        ) from exc
    return decoded.astype(bool)  # type: ignore[no-any-return]


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
        return {"size": list(region.size), "counts": region.counts.encode("ascii")}
    coco = _coco()
    return coco.merge(coco.frPyObjects([list(ring) for ring in region], height, width))  # type: ignore[no-any-return]
