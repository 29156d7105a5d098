"""torchvision's detection models train on ``to_pytorch()`` batches as they come: no glue code."""

import io
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader

import annolog
from annolog.pytorch import collate
from tests.streets import segmented_streets

detection = pytest.importorskip("torchvision.models.detection")

SCENES = [  # (width, height) and the boxes drawn on each picture
    ((64, 48), [("car", (4, 20, 30, 40)), ("person", (40, 6, 52, 40))]),
    ((56, 56), [("car", (10, 10, 46, 30))]),
    ((72, 40), []),  # nothing in it: torchvision takes an image without boxes too
    ((48, 64), [("person", (8, 8, 24, 60)), ("person", (28, 10, 42, 58))]),
]


def _picture(size: tuple[int, int], boxes: list[tuple[str, tuple[int, int, int, int]]]) -> bytes:
    image = Image.new("RGB", size, (120, 170, 210))
    draw = ImageDraw.Draw(image)
    for label, box in boxes:
        draw.rectangle(box, fill=(200, 40, 40) if label == "car" else (240, 220, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def scenes(tmp_path: Path) -> annolog.Dataset:
    project = annolog.Client(tmp_path / "data", actor="ana").create_project("scenes", labels=["person", "car", "day"])
    directory = project.directory.new("scenes")
    for i, (size, boxes) in enumerate(SCENES):
        photo = directory.add_file(_picture(size, boxes), name=f"{i}.png")
        for label, box in boxes:
            photo.add_instance(label, box=box)
    photo.add_instance("day", kind="tag")  # targets may carry keys the model does not read
    photo.add_instance("person", kind="point", points=[(10, 10)])
    project.tag("v1")
    return project.directory.get("scenes", version="v1")


def test_a_faster_rcnn_trains_two_steps_on_to_pytorch_batches_as_they_come(scenes: annolog.Dataset) -> None:
    torch.manual_seed(0)
    ds = scenes.to_pytorch()
    model = detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=ds.num_classes,
        min_size=128,  # smaller images and fewer proposals and sampled boxes than the defaults
        max_size=160,  # keep two CPU steps to about a second
        rpn_pre_nms_top_n_train=200,
        rpn_post_nms_top_n_train=100,
        box_batch_size_per_image=32,
    )
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.roi_heads.box_predictor.parameters()]
    loader = DataLoader(ds, batch_size=2, shuffle=True, collate_fn=collate)
    for images, targets in loader:
        losses = model(images, targets)
        loss = sum(losses.values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        assert torch.isfinite(loss) and losses["loss_classifier"] > 0
    after = list(model.roi_heads.box_predictor.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after))


def test_labels_are_one_based_with_zero_left_for_the_background(scenes: annolog.Dataset) -> None:
    ds = scenes.to_pytorch()
    assert ds.num_classes == scenes.num_classes == 4 and ds.classes == ["__background__", "person", "car", "day"]
    image, target = ds[0]
    assert image.dtype == torch.float32 and image.shape == (3, 48, 64)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert [ds.classes[k] for k in target["labels"].tolist()] == ["car", "person"]
    _, last = ds[3]
    assert [ds.classes[k] for k in last["tags"].tolist()] == ["day"]
    assert [ds.classes[s["label"]] for s in last["shapes"]] == ["person"]


def test_dtype_uint8_keeps_the_bytes_and_other_dtypes_are_refused(scenes: annolog.Dataset) -> None:
    raw, _ = scenes.to_pytorch(dtype=torch.uint8)[1]
    scaled, _ = scenes.to_pytorch()[1]
    assert raw.dtype == torch.uint8 and torch.equal(raw, (scaled * 255).round().to(torch.uint8))
    assert scenes.to_pytorch(dtype=torch.float16)[1][0].dtype == torch.float16
    with pytest.raises(annolog.InvalidInputError, match="dtype must be torch.uint8 .* got torch.int32"):
        scenes.to_pytorch(dtype=torch.int32)


@pytest.fixture
def segmented(tmp_path: Path) -> annolog.Dataset:
    return segmented_streets(tmp_path / "data")


def test_a_mask_r_cnn_trains_a_step_on_masks_and_polygons_from_to_pytorch(segmented: annolog.Dataset) -> None:
    torch.manual_seed(0)
    ds = segmented.to_pytorch(masks=True)
    model = detection.maskrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=ds.num_classes,
        min_size=64,  # tiny images, few proposals and sampled boxes: one CPU step in a few seconds
        max_size=96,
        rpn_pre_nms_top_n_train=100,
        rpn_post_nms_top_n_train=50,
        box_batch_size_per_image=16,
    )
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.roi_heads.mask_predictor.parameters()]
    images, targets = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate)))
    losses = model(images, targets)
    loss = sum(losses.values())
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss) and losses["loss_mask"] > 0
    after = list(model.roi_heads.mask_predictor.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after))


def test_masks_targets_align_masks_with_boxes_and_labels_and_leave_boxes_to_shapes(
    segmented: annolog.Dataset,
) -> None:
    ds = segmented.to_pytorch(masks=True)
    image, target = ds[1]
    masks = target["masks"]
    assert masks.dtype == torch.uint8 and masks.shape == (3, *image.shape[1:])
    assert [ds.classes[k] for k in target["labels"].tolist()] == ["road", "car", "car"]
    assert target["boxes"].tolist() == [[4, 28, 52, 56], [6, 6, 24, 18], [30, 4, 44, 30]]
    road = segmented[1].instances[0].mask
    assert torch.equal(masks[0].bool(), torch.from_numpy(road))
    assert masks[2, 10, 37] and masks[2, 25, 37] and not masks[2, 18, 37]  # both parts, not the gap
    assert [(ds.classes[s["label"]], s["kind"], s["points"].tolist()) for s in target["shapes"]] == [
        ("person", "box", [[40, 30], [50, 50]])
    ]
    _, plain = segmented.to_pytorch()[1]  # without masks=True the targets are as they were: boxes only
    assert "masks" not in plain and [ds.classes[k] for k in plain["labels"].tolist()] == ["person"]
