"""Train a small model on a pinned annolog version, streamed straight from the store.

    python examples/train.py [DATA_DIR]

Builds (or reuses) a project of synthetic street scenes with boxes, tags version
``train-v1``, then trains a tiny CNN for a few steps on CPU to predict which labels an
image contains — twice, on the same pinned version with the same seed — and shows that
both runs saw bit-identical batches. No export step: the DataLoader reads annolog.
"""

import hashlib
import io
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn
from torch.utils.data import DataLoader

import annolog
from annolog.pytorch import collate

SIZE = 64  # images are resized to SIZE×SIZE for this toy model


def street_scene(seed: int) -> tuple[bytes, list[tuple[str, tuple[int, int, int, int]]]]:
    """A synthetic photo and its boxes: a road, some cars, maybe a pedestrian."""
    image = Image.new("RGB", (160, 120), (110 + seed % 90, 160, 205))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 80, 160, 120), fill=(70, 70, 72))
    boxes = []
    for k in range(seed % 3 + 1):
        x = (seed * 37 + k * 50) % 120
        box = (x, 70, x + 36, 95)
        draw.rectangle(box, fill=(190, 30 + 40 * k, 30))
        boxes.append(("car", box))
    if seed % 2:
        box = (140 - seed % 20, 50, 150 - seed % 20, 90)
        draw.rectangle(box, fill=(240, 220, 40))
        boxes.append(("pedestrian", box))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue(), boxes


def build_project(client: annolog.Client, files: int = 48) -> annolog.Project:
    project = client.create_project("streets-train", labels=["car", "pedestrian"])
    photos = project.directory.new("photos")
    for i in range(files):
        data, boxes = street_scene(i)
        photo = photos.add_file(data, name=f"scene-{i:03d}.jpg", metadata={"camera": i % 4})
        for label, box in boxes:
            photo.add_instance(label, box=box)
    project.tag("train-v1")
    return project


class TinyNet(nn.Module):
    """Which of the classes appear in the image (multi-label)."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(16, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))  # type: ignore[no-any-return]


def _inputs(images: list[torch.Tensor], targets: list[dict], classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = torch.stack([F.interpolate(i[None].float() / 255, size=(SIZE, SIZE), mode="bilinear")[0] for i in images])
    present = torch.zeros(len(targets), classes)
    for row, target in enumerate(targets):
        present[row, target["labels"]] = 1.0
    return pixels, present


@dataclass
class Run:
    batch_digests: list[str]
    losses: list[float]


def train(dataset: annolog.Dataset, *, steps: int = 5, seed: int = 0, batch_size: int = 8) -> Run:
    """A few optimisation steps on ``dataset``'s version, streamed with a seeded shuffle."""
    torch.manual_seed(seed)
    classes = len(dataset.classes)
    stream = dataset.to_pytorch(streaming=True, shuffle=True, seed=seed, batch_size=batch_size)
    loader = DataLoader(stream, batch_size=batch_size, collate_fn=collate, num_workers=2)
    model, run = TinyNet(classes), Run([], [])
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    for step, (images, targets) in enumerate(loader):
        if step == steps:
            break
        pixels, present = _inputs(images, targets, classes)
        loss = F.binary_cross_entropy_with_logits(model(pixels), present)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        run.batch_digests.append(hashlib.sha256(pixels.numpy().tobytes() + present.numpy().tobytes()).hexdigest())
        run.losses.append(round(loss.item(), 4))
    return run


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="annolog-train-"))
    client = annolog.Client(data_dir, actor="trainer")
    project = build_project(client)
    pinned = project.directory.get("photos", version="train-v1")
    first, second = train(pinned), train(pinned)
    print(f"trained on {pinned!r}, classes {pinned.classes}")
    print(f"  losses, run 1: {first.losses}")
    print(f"  losses, run 2: {second.losses}")
    print(f"  bit-identical batches: {first.batch_digests == second.batch_digests}")


if __name__ == "__main__":
    main()
