"""COCO object-detection files: read and check one into an import plan; write one from files.

An annotation with a ``segmentation`` is that shape: a list of polygons is one polygon
instance (of several parts when it has several), an RLE (compressed, or uncompressed run
lengths) is a mask instance; without one (or with an empty list) it is its ``bbox``, a box.
A shape's ``bbox`` and ``area`` are derived from it on export, as COCO's own tools derive
them, so an input whose bbox disagrees with its segmentation comes back with the derived one.
An annotation's ``score`` (model predictions), ``iscrowd`` when set, and its ``attributes``
object become the instance's attributes, and come back out the same way, so import
followed by export gives the same annotations (uncompressed RLE comes back compressed: the
same pixels). An annotation with ``keypoints`` is a keypoints instance of its category's
skeleton, keeping its bbox, area and segmentation as the file has them (``annolog.coco_keypoints``
says why); a category's ``keypoints``/``skeleton`` are declared as its label's skeleton, once:
a label that already declares another one is listed, and its keypoints annotations with it.
A box has no ``segmentation`` on export, as in COCO detection files (pycocotools' ``segm``
evaluation needs one, so evaluate a file holding boxes with ``bbox``, or only the segmented
categories): drawing its rectangle would come back as a polygon, and a round trip would
change it. Extra keys of an image entry (``license``, ``date_captured``…) become the
file's metadata.

Files are streamed (ijson), never loaded whole: a first pass checks the JSON and finds the
sections, then categories, images and annotations are each read in a pass of their own,
in whatever order the file has them. The checked boxes wait in a temporary SQLite file
(``annolog.spill``) until the files they belong to are committed, so memory holds the
images' ids and sizes and one chunk of files, not the annotations.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import ijson  # type: ignore[import-untyped]
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    JsonValue,
    PositiveInt,
    StrictInt,
    ValidationError,
    model_validator,
)

from annolog import coco_keypoints, masks
from annolog.core.errors import InvalidInputError
from annolog.core.geometry import EDGE_SLACK, InstanceKind, check_inside, joined
from annolog.core.mask import check_mask_fits
from annolog.core.skeleton import Skeleton
from annolog.plan import Plan, PlannedFile, PlannedInstance, Problem
from annolog.spill import Spill

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
    keypoints: list[str] | None = None
    skeleton: list[tuple[StrictInt, StrictInt]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _skeleton_joins_its_keypoints(self) -> "CocoCategory":
        self.declared()
        return self

    def declared(self) -> Skeleton | None:
        """The skeleton its ``keypoints`` and (1-based) ``skeleton`` declare, None if it names no keypoints."""
        return coco_keypoints.skeleton_of(self.keypoints, self.skeleton) if self.keypoints else None


class CocoAnnotation(_CocoEntry):
    id: StrictInt
    image_id: StrictInt
    category_id: StrictInt
    bbox: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat]
    area: FiniteFloat | None = None
    segmentation: list[list[FiniteFloat]] | dict[str, Any] | None = None
    keypoints: list[FiniteFloat] | None = None
    score: FiniteFloat | None = None
    iscrowd: Annotated[int, Field(ge=0, le=1)] = 0
    attributes: dict[str, JsonValue] = Field(default_factory=dict)


@dataclass(frozen=True)
class CocoFile:
    """A COCO file whose JSON and sections were checked: its sections' entries, read on demand.

    ``document`` is set only for a file that Python's ``json`` reads but the streaming parser
    refuses (``NaN`` or ``Infinity`` as numbers): that one is held whole, as before.
    """

    path: Path
    sections: dict[str, str]  # each top-level key, in file order, and the type of its value
    document: dict[str, Any] | None = None

    def entries(self, section: str) -> Iterator[Any]:
        if self.document is not None:
            yield from self.document.get(section, [])
        elif section in self.sections:
            with self.path.open("rb") as stream:
                yield from ijson.items(stream, f"{section}.item", use_float=True)


def read_coco(path: Path) -> CocoFile:
    """The COCO file at ``path``, checked whole before anything is planned: malformed JSON is
    refused with its line and column, a document of the wrong shape with what it holds."""
    try:
        kind, sections = _shape(path)
        coco = CocoFile(path, sections)
    except (ijson.JSONError, UnicodeDecodeError):
        coco = _loaded(path)  # Python's json names the line and column, or reads NaN, which yajl refuses
        kind = type(coco.document).__name__
    except OSError as exc:
        raise InvalidInputError(f"cannot read COCO file {path}: {exc}") from exc
    if kind != "dict":
        raise InvalidInputError(
            f"{path}: a COCO file is an object with images, categories and annotations; "
            f"got a {kind} (a bare list of detections needs the images and categories around it)"
        )
    for section in ("images", "categories", "annotations"):
        if coco.sections.get(section, "list") != "list":
            raise InvalidInputError(f"{path}: {section} must be a list, got {coco.sections[section]}")
    for section in ("images", "categories"):
        if section not in coco.sections:
            raise InvalidInputError(
                f"{path}: a COCO file needs {section!r}; it has {sorted(coco.sections) or 'no keys'}"
            )
    return coco


_EVENT_TYPES = {"start_map": "dict", "start_array": "list", "string": "str", "boolean": "bool", "null": "NoneType"}


def _type_name(event: str, value: object) -> str:
    """The Python type name ``json`` would give the value that starts with ``event``."""
    return _EVENT_TYPES.get(event) or type(value).__name__


def _shape(path: Path) -> tuple[str, dict[str, str]]:
    """One pass over the whole file, keeping nothing: the document's type and its sections'."""
    sections: dict[str, str] = {}
    with path.open("rb") as stream:
        events = ijson.parse(stream, use_float=True)
        _, event, value = next(events)
        kind, key = _type_name(event, value), None
        for prefix, event, value in events:
            if key is not None:
                sections[key], key = _type_name(event, value), None
            elif prefix == "" and event == "map_key":
                key = value
    return kind, sections


def _loaded(path: Path) -> CocoFile:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read COCO file {path}: {exc}") from exc
    sections = {key: type(value).__name__ for key, value in document.items()} if isinstance(document, dict) else {}
    return CocoFile(path, sections, document)


@dataclass(frozen=True)
class _Image:
    """What checking an annotation needs of its image; the rest waits in the spill."""

    rank: int  # its place among the images imported
    file_name: str
    width: int
    height: int


@dataclass(frozen=True)
class _Labels:
    """The categories imported: their labels by id, and the skeleton each one's keypoints
    annotations are checked against, or why they are refused."""

    names: dict[int, str]
    skeletons: dict[int, Skeleton | str]
    declare: tuple[tuple[str, Skeleton], ...]  # the skeletons the project lacks


@contextmanager
def plan_coco(
    coco: CocoFile,
    *,
    images_dir: Path | None,
    predictions: bool = False,
    declared: dict[str, Skeleton] | None = None,
) -> Iterator[Plan]:
    """The files, instances, labels and skeletons a COCO file asks for, and every part refused, with
    where it is; the plan's files are read from a temporary spill, removed when the block ends.

    With ``images_dir`` each image is read from there; without it the images must already
    be in the directory imported into (predictions for images imported earlier). With
    ``predictions`` every annotation needs a ``score``. ``declared`` are the skeletons the
    project's labels have: the same one again is not declared again, another one is refused.
    """
    problems: list[Problem] = []
    with Spill() as spill:
        labels = _categories(_entries(coco, "categories", CocoCategory, problems), declared or {}, problems)
        images, refused = _images(_entries(coco, "images", CocoImage, problems), images_dir, problems, spill)
        for where, annotation in _entries(coco, "annotations", CocoAnnotation, problems):
            message = _refusal(annotation, labels, images, refused, spill, predictions=predictions)
            if message is not None:
                problems.append(Problem(location=where, message=message))
                continue
            image = images[annotation.image_id]
            try:
                planned = _planned_instance(annotation, labels, where, image)
            except InvalidInputError as exc:
                problems.append(Problem(location=where, message=str(exc)))
                continue
            spill.add_instance(annotation.id, image.rank, planned)
        sections = {name: rank for rank, name in enumerate(coco.sections)}
        problems.sort(key=lambda p: _position(p.location, sections))
        files = spill.files(lambda entry, where, boxes: _planned_file(entry, where, images_dir, boxes))
        yield Plan(
            files=files,
            labels=tuple(dict.fromkeys(labels.names.values())),
            skeletons=labels.declare,
            problems=tuple(problems),
        )


def _position(location: str, sections: dict[str, int]) -> tuple[int, int]:
    """Where "annotations[17] (id 4521)" is in the file, so problems are listed in file order."""
    section, _, rest = location.partition("[")
    return sections.get(section, len(sections)), int(rest.partition("]")[0])


def _entries(coco: CocoFile, section: str, model: type[Entry], problems: list[Problem]) -> Iterator[tuple[str, Entry]]:
    """The section's entries that have the right shape, each with its location; the others as problems."""
    for index, raw in enumerate(coco.entries(section)):
        where = f"{section}[{index}]" + (f" (id {raw['id']})" if isinstance(raw, dict) and "id" in raw else "")
        try:
            yield where, model.model_validate(raw)
        except ValidationError as exc:
            problems.append(Problem(location=where, message=_described(exc)))


def _described(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']} (got {e['input']!r})" for e in exc.errors()
    )


def _first_of_each(
    entries: Iterable[tuple[str, Entry]],
    key: Callable[[Entry], object],
    what: str,
    problems: list[Problem],
    dropped: list[tuple[str, Entry]],
) -> Iterator[tuple[str, Entry]]:
    """Entries whose ``key`` came first; later ones are problems naming the first, and ``dropped``."""
    first: dict[object, str] = {}
    for where, entry in entries:
        if key(entry) in first:
            problems.append(
                Problem(location=where, message=f"duplicate {what} {key(entry)!r}, first at {first[key(entry)]}")
            )
            dropped.append((where, entry))
            continue
        first[key(entry)] = where
        yield where, entry


def _categories(
    entries: Iterable[tuple[str, CocoCategory]], declared: dict[str, Skeleton], problems: list[Problem]
) -> _Labels:
    unique = _first_of_each(entries, lambda c: c.id, "category id", problems, [])
    unique = _first_of_each(unique, lambda c: c.name, "category name", problems, [])
    categories = sorted(unique, key=lambda pair: pair[1].id)
    skeletons: dict[int, Skeleton | str] = {}
    declare: list[tuple[str, Skeleton]] = []
    for where, category in categories:
        wanted, present = category.declared(), declared.get(category.name)
        if wanted is None:
            skeletons[category.id] = f"category_id {category.id} ({category.name!r}) names no keypoints"
        elif present is None:
            skeletons[category.id] = wanted
            declare.append((category.name, wanted))
        elif present == wanted:
            skeletons[category.id] = wanted
        else:
            message = _conflict(category.name, present, wanted)
            problems.append(Problem(location=where, message=message))
            skeletons[category.id] = f"its category's skeleton was refused ({where})"
    return _Labels({c.id: c.name for _, c in categories}, skeletons, tuple(declare))


def _conflict(label: str, present: Skeleton, wanted: Skeleton) -> str:
    def described(skeleton: Skeleton) -> str:
        edges = coco_keypoints.category_fields(skeleton)["skeleton"]
        return f"keypoints {list(skeleton.keypoints)} with skeleton {edges}"

    return (
        f"label {label!r} declares {described(present)}, this category {described(wanted)} (edges 1-based): "
        "the label's skeleton is kept, and this category's keypoints annotations are refused"
    )


def _images(
    entries: Iterable[tuple[str, CocoImage]], images_dir: Path | None, problems: list[Problem], spill: Spill
) -> tuple[dict[int, _Image], dict[int, str]]:
    """Importable images by id (their entries spilled, in file order), and where each refused
    image id is (its annotations go with it)."""
    dropped: list[tuple[str, CocoImage]] = []
    unique = _first_of_each(entries, lambda i: i.id, "image id", problems, dropped)
    unique = _first_of_each(unique, lambda i: i.file_name, "file_name", problems, dropped)
    images: dict[int, _Image] = {}
    missing: dict[int, str] = {}
    for where, image in unique:
        if images_dir is not None and not (images_dir / image.file_name).is_file():
            problems.append(Problem(location=where, message=f"image {image.file_name!r} is not in {images_dir}"))
            missing[image.id] = where
        else:
            images[image.id] = _Image(len(images), image.file_name, image.width, image.height)
            spill.add_image(image.model_dump_json(), where)
    kept = images.keys() | missing.keys()
    refused = {image.id: where for where, image in dropped if image.id not in kept}  # in file order: the last stays
    return images, refused | missing


def _refusal(
    annotation: CocoAnnotation,
    labels: _Labels,
    images: dict[int, _Image],
    refused: dict[int, str],
    spill: Spill,
    *,
    predictions: bool,
) -> str | None:
    """Why ``annotation`` cannot be imported, or None."""
    first = spill.instance_location(annotation.id)
    if first is not None:
        return f"duplicate annotation id {annotation.id}, first at {first}"
    if annotation.image_id in refused:
        return f"its image (image_id {annotation.image_id}, {refused[annotation.image_id]}) was refused"
    if annotation.image_id not in images:
        return f"image_id {annotation.image_id} is not in images"
    if annotation.category_id not in labels.names:
        return f"category_id {annotation.category_id} is not in categories"
    skeleton = labels.skeletons[annotation.category_id]
    if annotation.keypoints and isinstance(skeleton, str):
        return f"keypoints: {skeleton}"
    if annotation.keypoints and coco_keypoints.KEPT in annotation.attributes:
        return (
            f"attributes.{coco_keypoints.KEPT} is where a keypoints instance keeps its annotation's bbox, "
            "area and segmentation; rename that attribute"
        )
    if predictions and annotation.score is None:
        return "a prediction needs a score"
    if annotation.segmentation:  # the shape is the instance, checked when it is planned
        return None
    return _box_refusal(annotation.bbox, images[annotation.image_id])


def _box_refusal(bbox: tuple[float, float, float, float], image: _Image) -> str | None:
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


def _planned_instance(annotation: CocoAnnotation, labels: _Labels, where: str, image: _Image) -> PlannedInstance:
    """The annotation's keypoints or shape (see the module's docstring); ``InvalidInputError`` says
    why they cannot be one."""
    label = labels.names[annotation.category_id]
    attributes = dict(annotation.attributes)
    if annotation.score is not None:
        attributes["score"] = annotation.score
    if annotation.iscrowd:
        attributes["iscrowd"] = 1
    try:
        shape = _planned_shape(annotation, label, attributes, where, image)
    except InvalidInputError as exc:
        raise InvalidInputError(f"segmentation: {exc}") from exc
    skeleton = labels.skeletons[annotation.category_id]
    if not annotation.keypoints or not isinstance(skeleton, Skeleton):
        return shape
    held = {
        **attributes,
        coco_keypoints.KEPT: coco_keypoints.kept(annotation.bbox, annotation.area, annotation.segmentation),
    }
    size = (image.width, image.height)
    try:
        return coco_keypoints.planned_keypoints(label, annotation.keypoints, skeleton, held, where, size)
    except InvalidInputError as exc:
        raise InvalidInputError(f"keypoints: {exc}") from exc


def _planned_shape(
    annotation: CocoAnnotation, label: str, attributes: dict[str, JsonValue], where: str, image: _Image
) -> PlannedInstance:
    """The annotation's segmentation, else its box; a keypoints annotation's is checked as well
    before it is kept."""
    segmentation = annotation.segmentation
    if isinstance(segmentation, dict):
        mask = masks.from_coco(segmentation)
        check_mask_fits(mask, image.width, image.height)
        return PlannedInstance(label, InstanceKind.mask, (), attributes, where, mask=mask)
    if segmentation:
        if any(len(ring) < 6 or len(ring) % 2 for ring in segmentation):
            raise InvalidInputError("each polygon is a flat list of x, y pairs, at least 3 of them")
        points, parts = joined([tuple(zip(ring[::2], ring[1::2])) for ring in segmentation])
        check_inside(points, image.width, image.height)
        return PlannedInstance(label, InstanceKind.polygon, points, attributes, where, parts)
    x, y, width, height = annotation.bbox
    return PlannedInstance.box(label, (x, y, x + width, y + height), attributes, where)


def _planned_file(entry: str, where: str, images_dir: Path | None, planned: list[PlannedInstance]) -> PlannedFile:
    image = CocoImage.model_validate_json(entry)
    extra = {key: value for key, value in image.model_dump().items() if key not in _IMAGE_KEYS}
    return PlannedFile(
        name=image.file_name,
        source=None if images_dir is None else images_dir / image.file_name,
        location=where,
        metadata=extra,
        width=image.width,
        height=image.height,
        instances=tuple(planned),
    )


# -- writing ----------------------------------------------------------------------------------


def category_entries(classes: Sequence[str], skeletons: Mapping[str, Skeleton]) -> list[dict[str, Any]]:
    """Every label as a category, with its skeleton's keypoints; its id is its class index + 1, which never changes."""
    return [
        {
            "id": index + 1,
            "name": name,
            "supercategory": "",
            **(coco_keypoints.category_fields(skeletons[name]) if name in skeletons else {}),
        }
        for index, name in enumerate(classes)
    ]


def image_entry(image_id: int, name: str, width: int, height: int, metadata: dict[str, JsonValue]) -> dict[str, Any]:
    extra = {key: value for key, value in metadata.items() if key not in _IMAGE_KEYS}
    return {**extra, "id": image_id, "file_name": name, "width": width, "height": height}


def box_geometry(box: tuple[float, float, float, float]) -> dict[str, Any]:
    """A box's ``bbox`` and ``area``."""
    x_min, y_min, x_max, y_max = box
    # Rounded to 10 decimals: x_max - x_min carries float noise (0.30000000000000004) that no
    # annotator meant, and exports should compare equal to what was imported.
    width, height = round(x_max - x_min, 10), round(y_max - y_min, 10)
    return {"bbox": [x_min, y_min, width, height], "area": round(width * height, 10)}


def polygon_geometry(rings: Sequence[Sequence[tuple[float, float]]]) -> dict[str, Any]:
    """A polygon's ``segmentation`` (one flat x, y list per part), its extent as ``bbox``, and
    the area its parts enclose (the shoelace formula: COCO's tools store an area, not a codec)."""
    xs, ys = [x for ring in rings for x, _ in ring], [y for ring in rings for _, y in ring]
    enclosed = sum(abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(r, [*r[1:], r[0]]))) / 2 for r in rings)
    return {
        "segmentation": [[v for point in ring for v in point] for ring in rings],
        **box_geometry((min(xs), min(ys), max(xs), max(ys))),
        "area": round(enclosed, 10),
    }


def mask_geometry(size: tuple[int, int], counts: str, area: int, bbox: tuple[int, int, int, int]) -> dict[str, Any]:
    """A mask as COCO's compressed RLE, with the area and box pycocotools measured when it was drawn."""
    return {"segmentation": {"size": list(size), "counts": counts}, "bbox": list(bbox), "area": area}


def annotation_entry(
    annotation_id: int,
    image_id: int,
    category_id: int,
    geometry: dict[str, Any],
    attributes: dict[str, JsonValue],
) -> dict[str, Any]:
    """One instance as a COCO annotation (``geometry`` from the functions above or
    ``coco_keypoints``); ``score`` and ``iscrowd`` go where COCO tools look for them, and what a
    keypoints instance kept of its annotation is in ``geometry``."""
    moved = ("score", "iscrowd", coco_keypoints.KEPT) if "keypoints" in geometry else ("score", "iscrowd")
    rest = {key: value for key, value in attributes.items() if key not in moved}
    entry: dict[str, Any] = {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        **geometry,
        "iscrowd": attributes.get("iscrowd", 0),
    }
    if "score" in attributes:
        entry["score"] = attributes["score"]
    if rest:
        entry["attributes"] = rest
    return entry
