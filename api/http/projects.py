"""Projects, labels and their statistics, directories, versions and tags, saved slices, uploads and commits."""

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from annolog.api.http.deps import ScopeDep, SessionDep, VersionQuery
from annolog.api.wire import CommitRequest, NewProject, SavedSliceBody, ScopeBody, Version
from annolog.projections.readmodels import (
    DirectoryView,
    LabelStats,
    Outcome,
    ProjectView,
    SkeletonView,
    StoredBlob,
    TagView,
)

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=list[ProjectView], summary="Projects the caller has a role in")
def list_projects(session: SessionDep) -> list[ProjectView]:
    return session.projects()


@router.post("", response_model=ProjectView, status_code=201, summary="Create a project; the caller owns it")
def create_project(body: NewProject, session: SessionDep) -> ProjectView:
    return session.create_project(body.name, labels=body.labels)


@router.get("/{project}", response_model=ProjectView)
def get_project(project: str, session: SessionDep) -> ProjectView:
    return session.project(project)


@router.get("/{project}/versions/{version}", response_model=Version, summary="A version number, tag or 'latest'")
def resolve(project: str, version: str, session: SessionDep) -> Version:
    return Version(version=session.resolve(project, version))


@router.get("/{project}/tags", response_model=list[TagView], summary="Tags now, by the version they name")
def tags(project: str, session: SessionDep) -> list[TagView]:
    return session.tags(project)


@router.get("/{project}/labels", response_model=list[str], summary="Label names at a version, by name")
def labels(project: str, version: VersionQuery, session: SessionDep) -> list[str]:
    return session.labels(project, version)


@router.get(
    "/{project}/skeletons",
    response_model=list[SkeletonView],
    summary="Labels' skeletons at a version (keypoint names, 0-based edges), by label",
)
def skeletons(project: str, version: VersionQuery, session: SessionDep) -> list[SkeletonView]:
    return session.skeletons(project, version)


@router.get("/{project}/classes", response_model=list[str], summary="Label names by class index")
def classes(project: str, version: VersionQuery, session: SessionDep) -> list[str]:
    return session.classes(project, version)


@router.get(
    "/{project}/label-stats",
    response_model=LabelStats,
    summary="Instances and files per label at a version, in a directory (or every readable one) or a slice",
)
def label_stats(scope: ScopeDep, session: SessionDep) -> LabelStats:
    return session.label_stats(scope)


@router.post("/{project}/label-stats", response_model=LabelStats, summary="Label statistics, the dataset in the body")
def label_stats_of(project: str, body: ScopeBody, session: SessionDep) -> LabelStats:
    return session.label_stats(body.scope(project))


@router.get("/{project}/directories", response_model=list[DirectoryView], summary="Directories the caller may read")
def directories(project: str, version: VersionQuery, session: SessionDep) -> list[DirectoryView]:
    return session.directories(project, version)


@router.get("/{project}/directories/{name}", response_model=DirectoryView)
def directory(project: str, name: str, version: VersionQuery, session: SessionDep) -> DirectoryView:
    return session.directory(project, name, version)


@router.get("/{project}/slices/{name}", response_model=SavedSliceBody)
def saved_slice(project: str, name: str, session: SessionDep) -> SavedSliceBody:
    query, directory_id = session.saved_slice(project, name)
    return SavedSliceBody(query=query, directory_id=directory_id)


@router.post("/{project}/commits", response_model=Outcome, summary="Commit commands (all or nothing), judged")
def commit(project: str, body: CommitRequest, session: SessionDep) -> Outcome:
    commands = [envelope.parsed() for envelope in body.commands]
    return session.execute(project, commands, commit_id=body.commit_id)


@router.post("/{project}/blobs", response_model=StoredBlob, status_code=201, summary="Upload bytes for new files")
def upload(
    project: str,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="the bytes, streamed as multipart")],
    name: Annotated[str | None, Form()] = None,
    media_type: Annotated[str | None, Form()] = None,
) -> StoredBlob:
    # The upload was spooled to disk while it arrived; nothing is stored unless all of it did.
    data = file.file.read()
    return session.store_blob(project, data, name=name or file.filename or "upload", media_type=media_type)
