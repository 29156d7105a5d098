"""Tiny street pictures labelled with masks, polygons (one of two parts) and a box, at tag v1: what
the training adapters' instance-segmentation tests read."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

import annolog

SIZES = [(64, 48), (56, 56), (48, 64)]  # (width, height) of each picture


def _picture(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 170, 210)).save(out, "PNG")
    return out.getvalue()


def segmented_streets(data_dir: Path) -> annolog.Dataset:
    """Each picture: a road mask over its lower half and a square car polygon; the second also a
    car of two parts and a box-only person."""
    project = annolog.Client(data_dir, actor="ana").create_project("streets", labels=["road", "car", "person"])
    directory = project.directory.new("streets")
    for i, (width, height) in enumerate(SIZES):
        photo = directory.add_file(_picture(width, height), name=f"{i}.png")
        road = np.zeros((height, width), dtype=bool)
        road[height // 2 :, 4 : width - 4] = True
        photo.add_instance("road", mask=road)
        photo.add_instance("car", polygons=[[(6, 6), (24, 6), (24, 18), (6, 18)]])
        if i == 1:
            photo.add_instance("car", polygons=[[(30, 4), (44, 4), (37, 16)], [(30, 20), (44, 20), (37, 30)]])
            photo.add_instance("person", box=(40, 30, 50, 50))
    project.tag("v1")
    return project.directory.get("streets", version="v1")
