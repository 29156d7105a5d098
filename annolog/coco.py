"""COCO object-detection files: read and check one into an import plan; write one from files.

Only boxes travel: ``bbox`` in, ``bbox`` out. An annotation's ``score`` (model
predictions), ``iscrowd`` when set, and its ``attributes`` object become the instance's
attributes, and come back out the same way, so import followed by export gives the same
annotations. Extra keys of an image entry (``license``, ``date_captured``…) become the
file's metadata.
"""

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, JsonValue, PositiveInt, StrictInt, ValidationError

from annolog.core.errors import InvalidInputError
from annolog.core.geometry import EDGE_SLACK
from annolog.plan import Plan, PlannedBox, PlannedFile, Problem

_IMAGE_KEYS = {"id", "file_name", "width", "height"}
Entry = TypeVar("Entry", bound=BaseModel)


class _CocoEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class CocoImage(_CocoEntry):
    id: StrictInt
    file_name: Annotated[str, Field(min_length=1, max_length=500)]
    width: PositiveInt
    height: PositiveInt


class CocoCategory(_CocoEntry):
    id: StrictInt
    name: Annotated[str, Field(min_length=1, max_length=200)]


class CocoAnnotation(_CocoEntry):
    id: StrictInt
    image_id: StrictInt
    category_id: StrictInt
    bbox: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat]
    score: FiniteFloat | None = None
    iscrowd: Annotated[int, Field(ge=0, le=1)] = 0
    attributes: dict[str, JsonValue] = Field(default_factory=dict)


def read_coco(path: Path) -> dict[str, Any]:
    """The COCO document at ``path``; malformed JSON is refused with its line and column."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read COCO file {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInputError(
            f"{path}: a COCO file is an object with images, categories and annotations; "
            f"got a {type(document).__name__} (a bare list of detections needs the images and categories around it)"
        )
    for section in ("images", "categories", "annotations"):
        if not isinstance(document.get(section, []), list):
            raise InvalidInputError(f"{path}: {section} must be a list, got {type(document[section]).__name__}")
    for section in ("images", "categories"):
        if section not in document:
            raise InvalidInputError(f"{path}: a COCO file needs {section!r}; it has {sorted(document) or 'no keys'}")
    return document


def plan_coco(document: dict[str, Any], *, images_dir: Path | None, predictions: bool = False) -> Plan:
    """The files, boxes and labels a COCO document asks for, and every part refused, with where it is.

    With ``images_dir`` each image is read from there; without it the images must already
    be in the directory imported into (predictions for images imported earlier). With
    ``predictions`` every annotation needs a ``score``.
    """
    problems: list[Problem] = []
    labels = _categories(_entries(document, "categories", CocoCategory, problems), problems)
    images, refused = _images(_entries(document, "images", CocoImage, problems), images_dir, problems)
    boxes: dict[int, list[PlannedBox]] = {image_id: [] for image_id in images}
    seen: dict[int, str] = {}
    for where, annotation in _entries(document, "annotations", CocoAnnotation, problems):
        message = _refusal(annotation, labels, images, refused, seen, predictions=predictions)
        if message is not None:
            problems.append(Problem(location=where, message=message))
            continue
        seen[annotation.id] = where
        boxes[annotation.image_id].append(_planned_box(annotation, labels[annotation.category_id], where))
    files = tuple(_planned_file(image, where, images_dir, boxes[image.id]) for image, where in images.values())
    sections = {name: rank for rank, name in enumerate(document)}
    problems.sort(key=lambda p: _position(p.location, sections))
    return Plan(files=files, labels=tuple(dict.fromkeys(labels.values())), problems=tuple(problems))


def _position(location: str, sections: dict[str, int]) -> tuple[int, int]:
    """Where "annotations[17] (id 4521)" is in the file, so problems are listed in file order."""
    section, _, rest = location.partition("[")
    return sections.get(section, len(sections)), int(rest.partition("]")[0])


def _entries(
    document: dict[str, Any], section: str, model: type[Entry], problems: list[Problem]
) -> list[tuple[str, Entry]]:
    """The section's entries that have the right shape, each with its location; the others as problems."""
    found = []
    for index, raw in enumerate(document.get(section, [])):
        where = f"{section}[{index}]" + (f" (id {raw['id']})" if isinstance(raw, dict) and "id" in raw else "")
        try:
            found.append((where, model.model_validate(raw)))
        except ValidationError as exc:
            problems.append(Problem(location=where, message=_described(exc)))
    return found


def _described(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']} (got {e['input']!r})" for e in exc.errors()
    )


def _first_of_each(
    entries: Iterable[tuple[str, Entry]], key: Callable[[Entry], object], what: str, problems: list[Problem]
) -> list[tuple[str, Entry]]:
    """Entries whose ``key`` came first; later ones are problems naming the first."""
    first: dict[object, str] = {}
    kept = []
    for where, entry in entries:
        if key(entry) in first:
            problems.append(
                Problem(location=where, message=f"duplicate {what} {key(entry)!r}, first at {first[key(entry)]}")
            )
            continue
        first[key(entry)] = where
        kept.append((where, entry))
    return kept


def _categories(entries: list[tuple[str, CocoCategory]], problems: list[Problem]) -> dict[int, str]:
    unique = _first_of_each(entries, lambda c: c.id, "category id", problems)
    unique = _first_of_each(unique, lambda c: c.name, "category name", problems)
    return {category.id: category.name for _, category in sorted(unique, key=lambda pair: pair[1].id)}


def _images(
    entries: list[tuple[str, CocoImage]], images_dir: Path | None, problems: list[Problem]
) -> tuple[dict[int, tuple[CocoImage, str]], dict[int, str]]:
    """Importable images by id, and where each refused image id is (its annotations go with it)."""
    unique = _first_of_each(entries, lambda i: i.id, "image id", problems)
    unique = _first_of_each(unique, lambda i: i.file_name, "file_name", problems)
    kept = {image.id for _, image in unique}
    refused = {image.id: where for where, image in entries if image.id not in kept}
    images = {}
    for where, image in unique:
        if images_dir is not None and not (images_dir / image.file_name).is_file():
            problems.append(Problem(location=where, message=f"image {image.file_name!r} is not in {images_dir}"))
            refused[image.id] = where
        else:
            images[image.id] = (image, where)
    return images, refused


def _refusal(
    annotation: CocoAnnotation,
    labels: dict[int, str],
    images: dict[int, tuple[CocoImage, str]],
    refused: dict[int, str],
    seen: dict[int, str],
    *,
    predictions: bool,
) -> str | None:
    """Why ``annotation`` cannot be imported, or None."""
    if annotation.id in seen:
        return f"duplicate annotation id {annotation.id}, first at {seen[annotation.id]}"
    if annotation.image_id in refused:
        return f"its image (image_id {annotation.image_id}, {refused[annotation.image_id]}) was refused"
    if annotation.image_id not in images:
        return f"image_id {annotation.image_id} is not in images"
    if annotation.category_id not in labels:
        return f"category_id {annotation.category_id} is not in categories"
    if predictions and annotation.score is None:
        return "a prediction needs a score"
    image, _ = images[annotation.image_id]
    return _box_refusal(annotation.bbox, image)


def _box_refusal(bbox: tuple[float, float, float, float], image: CocoImage) -> str | None:
    x, y, width, height = bbox
    if width <= 0 or height <= 0:
        return f"bbox {list(bbox)} has no area: width and height must be positive"
    if (
        x < -EDGE_SLACK
        or y < -EDGE_SLACK
        or x + width > image.width + EDGE_SLACK
        or y + height > image.height + EDGE_SLACK
    ):
        return (
            f"bbox {list(bbox)} (x, y, width, height) reaches outside its image "
            f"{image.file_name!r} of {image.width}x{image.height} pixels"
        )
    return None


def _planned_box(annotation: CocoAnnotation, label: str, where: str) -> PlannedBox:
    x, y, width, height = annotation.bbox
    attributes = dict(annotation.attributes)
    if annotation.score is not None:
        attributes["score"] = annotation.score
    if annotation.iscrowd:
        attributes["iscrowd"] = 1
    return PlannedBox(label=label, box=(x, y, x + width, y + height), attributes=attributes, location=where)


def _planned_file(image: CocoImage, where: str, images_dir: Path | None, boxes: list[PlannedBox]) -> PlannedFile:
    extra = {key: value for key, value in image.model_dump().items() if key not in _IMAGE_KEYS}
    return PlannedFile(
        name=image.file_name,
        source=None if images_dir is None else images_dir / image.file_name,
        location=where,
        metadata=extra,
        width=image.width,
        height=image.height,
        boxes=tuple(boxes),
    )


# -- writing ----------------------------------------------------------------------------------


def category_entries(classes: Sequence[str]) -> list[dict[str, Any]]:
    """Every label as a category; its id is its class index + 1, which never changes."""
    return [{"id": index + 1, "name": name, "supercategory": ""} for index, name in enumerate(classes)]


def image_entry(image_id: int, name: str, width: int, height: int, metadata: dict[str, JsonValue]) -> dict[str, Any]:
    extra = {key: value for key, value in metadata.items() if key not in _IMAGE_KEYS}
    return {**extra, "id": image_id, "file_name": name, "width": width, "height": height}


def annotation_entry(
    annotation_id: int,
    image_id: int,
    category_id: int,
    box: tuple[float, float, float, float],
    attributes: dict[str, JsonValue],
) -> dict[str, Any]:
    """One box as a COCO annotation; ``score`` and ``iscrowd`` go where COCO tools look for them."""
    x_min, y_min, x_max, y_max = box
    # Rounded to 10 decimals: x_max - x_min carries float noise (0.30000000000000004) that no
    # annotator meant, and exports should compare equal to what was imported.
    width, height = round(x_max - x_min, 10), round(y_max - y_min, 10)
    rest = {key: value for key, value in attributes.items() if key not in ("score", "iscrowd")}
    entry: dict[str, Any] = {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [x_min, y_min, width, height],
        "area": round(width * height, 10),
        "iscrowd": attributes.get("iscrowd", 0),
    }
    if "score" in attributes:
        entry["score"] = attributes["score"]
    if rest:
        entry["attributes"] = rest
    return entry
