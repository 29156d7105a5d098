"""A label's declared attributes: their types, and the check every new or edited instance passes.

Declaring is what CVAT and Label Studio call a label's attribute spec. Once a label
declares attributes, an instance of it may carry only those (each optional: a missing
one is simply unknown) and each must have its declared type; a label that declares
none keeps free-form attributes, as every label had before declarations existed.
Instances written before a declaration are not checked again: old data stays readable,
and only what is written from then on must fit.

A spec is written the short way or the long way:

>>> specs = AttributeSpecs.validate_python({"occluded": "bool", "color": ["red", "blue"]})
>>> specs["color"].values
('red', 'blue')
>>> AttributeSpec(type="float", min=0, max=1).max
1.0
"""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, JsonValue, TypeAdapter, model_validator

from annolog.core.errors import InvalidInputError
from annolog.core.model import Model
from annolog.core.text import Name


class AttributeType(StrEnum):
    bool = "bool"
    int = "int"
    float = "float"
    str = "str"
    enum = "enum"  # one of ``values``


class AttributeSpec(Model):
    """One attribute's type; ``values`` for an enum, ``min``/``max`` (inclusive) for numbers."""

    type: AttributeType
    values: Annotated[tuple[Name, ...], Field(max_length=1000)] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        """``"bool"`` means ``{"type": "bool"}``; a list of strings is an enum of them."""
        if isinstance(value, str):
            return {"type": value}
        if isinstance(value, (list, tuple)):
            return {"type": "enum", "values": value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "AttributeSpec":
        if (self.type is AttributeType.enum) != (self.values is not None):
            raise ValueError("values are given for an enum, and only for an enum")
        if self.values is not None and (not self.values or len(set(self.values)) != len(self.values)):
            raise ValueError(f"an enum needs distinct values, got {list(self.values)}")
        numeric = self.type in (AttributeType.int, AttributeType.float)
        if not numeric and (self.min is not None or self.max is not None):
            raise ValueError(f"min and max bound numbers only, not a {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


AttributeSpecs = TypeAdapter(dict[Name, AttributeSpec])
"""Parses a label's declaration: attribute name -> spec (short forms accepted)."""

Declaration = Annotated[dict[Name, AttributeSpec], Field(max_length=200)]


def stored_specs(specs: dict[str, AttributeSpec]) -> dict[str, dict[str, Any]] | None:
    """A label's declared specs as the views keep them (None for none): plain dicts, which
    ``check_attributes`` reads without validating them again."""
    return {name: spec.model_dump(mode="json", exclude_none=True) for name, spec in specs.items()} or None


def _fits(spec: dict[str, Any], value: JsonValue) -> str | None:
    """Why ``value`` does not fit ``spec`` (from ``stored_specs``, checked when it was
    declared), or None when it does."""
    kind, values, minimum, maximum = spec["type"], spec.get("values") or (), spec.get("min"), spec.get("max")
    if kind == AttributeType.bool:
        return None if isinstance(value, bool) else "must be true or false"
    if kind == AttributeType.str:
        return None if isinstance(value, str) else "must be a string"
    if kind == AttributeType.enum:
        return None if value in values else f"must be one of {', '.join(map(repr, values))}"
    wanted = (int,) if kind == AttributeType.int else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted):
        return f"must be {'an integer' if kind == AttributeType.int else 'a number'}"
    if minimum is not None and value < minimum:
        return f"must be at least {minimum:g}"
    if maximum is not None and value > maximum:
        return f"must be at most {maximum:g}"
    return None


def check_attributes(label: str, declared: dict[str, Any] | None, attributes: dict[str, JsonValue]) -> None:
    """Raise ``InvalidInputError`` naming the label, the attribute and the value unless
    ``attributes`` fit the label's ``declared`` specs (as ``stored_specs`` keeps them);
    nothing is checked for a label that declares none."""
    if not declared:
        return
    for name, value in attributes.items():
        if name not in declared:
            raise InvalidInputError(
                f"label {label!r} declares no attribute {name!r} (value {value!r}); "
                f"its attributes: {', '.join(sorted(declared))}"
            )
        why = _fits(declared[name], value)
        if why is not None:
            raise InvalidInputError(f"attribute {name!r} of label {label!r} {why}, got {value!r}")
