"""create_project(exist_ok=True): a set-up script runs again, embedded and over HTTP alike."""

import pytest

import annolog
from tests.contract.conftest import Connect


def test_a_taken_project_name_is_a_conflict_without_exist_ok(connect: Connect) -> None:
    client = connect("ana")
    client.create_project("demo")
    with pytest.raises(annolog.ConflictError, match="'demo' already exists"):
        client.create_project("demo")


def test_exist_ok_opens_the_project_and_defines_only_the_labels_it_lacks(connect: Connect) -> None:
    client = connect("ana")
    first = client.create_project("demo", labels=["dog", "cat"])
    created = first.version
    again = client.create_project("demo", labels=["dog", "cat"], exist_ok=True)
    assert again.id == first.id and again.version == created  # nothing new to write
    more = client.create_project("demo", labels=["cat", "bird", "bird"], exist_ok=True)
    assert more.labels == ["bird", "cat", "dog"] and more.version == created + 1


def test_exist_ok_never_opens_a_project_the_actor_has_no_role_in(connect: Connect) -> None:
    connect("ana").create_project("demo", labels=["dog"])
    with pytest.raises(annolog.AccessDenied, match="ben has no role in project 'demo'"):
        connect("ben").create_project("demo", labels=["cat"], exist_ok=True)
