"""Text that would break the log or the views is refused where commands are built."""

from uuid import uuid4

import pytest

from annolog.core import (
    AddFile,
    AddInstance,
    ChangeInstance,
    CreateDirectory,
    CreateProject,
    DefineLabel,
    GrantRole,
    InvalidInputError,
    SaveSlice,
)

SHA = "0" * 64
FIELDS_THAT_ARE_NAMES = {
    "project name": lambda bad: CreateProject(name=bad),
    "label name": lambda bad: DefineLabel(name=bad),
    "directory name": lambda bad: CreateDirectory(name=bad),
    "file name": lambda bad: AddFile(directory_id=uuid4(), sha256=SHA, name=bad, media_type="image/png", size=1),
    "media type": lambda bad: AddFile(directory_id=uuid4(), sha256=SHA, name="a.png", media_type=bad, size=1),
    "role principal": lambda bad: GrantRole(principal=bad, role="viewer"),
    "slice name": lambda bad: SaveSlice(name=bad, query="labels.car > 1"),
    "instance label": lambda bad: AddInstance(file_id=uuid4(), label=bad, kind="tag"),
}


@pytest.mark.parametrize("field", FIELDS_THAT_ARE_NAMES)
@pytest.mark.parametrize("bad", ["a\x00b", "tab\there", "new\nline", "\ud800"])
def test_names_with_control_characters_or_surrogates_are_refused_naming_the_field(field: str, bad: str) -> None:
    with pytest.raises(InvalidInputError, match=r": (must not contain|.*unable to parse raw data as a unicode)"):
        FIELDS_THAT_ARE_NAMES[field](bad)


def test_nul_anywhere_in_metadata_is_refused_with_the_path_to_it() -> None:
    with pytest.raises(InvalidInputError, match=r"metadata: weather\[1\]\.sky: must not contain NUL"):
        AddFile(
            directory_id=uuid4(),
            sha256=SHA,
            name="a.png",
            media_type="image/png",
            size=1,
            metadata={"weather": ["rain", {"sky": "grey\x00"}]},
        )


def test_nul_in_an_attribute_key_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="key 'sc\\\\x00ore'"):
        AddInstance(file_id=uuid4(), label="car", kind="tag", attributes={"sc\x00ore": 1})


def test_nul_in_a_slice_query_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="query: must not contain NUL"):
        SaveSlice(name="s", query='file.meta.weather = "rain\x00"')


def test_free_text_keeps_newlines_tabs_and_any_printable_unicode() -> None:
    command = AddInstance(
        file_id=uuid4(), label="Straße 🚗", kind="tag", attributes={"note": "line one\n\tline two", "ключ": "値"}
    )
    assert command.attributes["note"] == "line one\n\tline two"


@pytest.mark.parametrize("name", ["a/b", "/"])
def test_project_and_directory_names_cannot_contain_a_slash(name: str) -> None:
    for make in (CreateProject, CreateDirectory):
        with pytest.raises(InvalidInputError, match="must not contain '/'"):
            make(name=name)


def test_file_names_may_be_paths() -> None:
    added = AddFile(directory_id=uuid4(), sha256=SHA, name="train/0001.jpg", media_type="image/jpeg", size=1)
    assert added.name == "train/0001.jpg"


def test_revisions_past_what_the_database_holds_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="expected_revision"):
        ChangeInstance(instance_id=uuid4(), expected_revision=2**70, label="car", kind="tag")


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_json_numbers_must_be_finite_as_json_and_postgresql_need(number: float) -> None:
    with pytest.raises(InvalidInputError, match=r"attributes: score\[0\]: must be a finite number"):
        AddInstance(file_id=uuid4(), label="car", kind="tag", attributes={"score": [number]})
