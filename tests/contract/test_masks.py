"""Mask instances and polygons of several parts, the same on every backend: drawn, edited with
revisions, read at earlier versions, copied and sliced — each mask with its counts inline and,
again, as a blob — and a large mask's blob read only through an instance its reader may read."""

from uuid import uuid4

import numpy as np
import pytest

import annolog
from annolog import masks
from annolog.api.service import Service
from annolog.core import AccessDenied, ConflictError, InvalidInputError, NotFoundError
from annolog.core.commands import AddInstance, ChangeInstance
from annolog.core.mask import INLINE_COUNTS, Mask, in_blob
from tests.contract.test_projections import Connect, jpeg

WIDTH, HEIGHT = 64, 48


def _blob(top: int, left: int, size: int) -> np.ndarray:
    pixels = np.zeros((HEIGHT, WIDTH), dtype=bool)
    pixels[top : top + size, left : left + size] = True
    pixels[top + 1, left + 1] = False  # a hole: a mask is not a box
    return pixels


def _noise(height: int, width: int) -> np.ndarray:
    """A mask of scattered pixels: ~one run per two pixels, so its counts are long."""
    return np.random.default_rng(7).random((height, width)) < 0.5


class MaskContract:
    """Subclasses provide ``service`` and may override ``connect``. Every test runs twice: with
    masks inline, as small masks are, and with every mask's counts kept as a blob."""

    @pytest.fixture(autouse=True, params=["inline", "blob"])
    def kept_as(self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
        if request.param == "blob":
            monkeypatch.setattr(masks, "INLINE_COUNTS", 0)
        return str(request.param)

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        return lambda actor: annolog.Client(service, actor=actor)

    @pytest.fixture
    def project(self, connect: Connect) -> annolog.Project:
        return connect("ana").create_project(f"roads-{uuid4().hex[:6]}", labels=["road", "car"])

    @pytest.fixture
    def photo(self, project: annolog.Project) -> annolog.File:
        return project.directory.new("streets").add_file(jpeg(WIDTH, HEIGHT), name="street.jpg")

    def test_a_drawn_mask_reads_back_pixel_for_pixel_with_its_area_and_box(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        photo.add_instance("road", mask=_blob(10, 20, 8), attributes={"iscrowd": 1})

        (read,) = project.directory.get("streets")[0].instances
        assert read.kind == "mask" and read.points == () and read.attributes == {"iscrowd": 1}
        assert read.mask is not None and read.mask.dtype == bool and (read.mask == _blob(10, 20, 8)).all()
        assert read.rle is not None and (read.rle.area, read.rle.bbox) == (63, (20, 10, 8, 8))

    def test_a_mask_edit_is_a_new_revision_and_the_version_before_it_still_shows_the_old_mask(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        road = photo.add_instance("road", mask=_blob(0, 0, 5))
        drawn = project.version
        road.update(mask=_blob(30, 40, 10))

        assert road.revision == 2
        (now,) = project.directory.get("streets")[0].instances
        (then,) = project.directory.get("streets", version=drawn)[0].instances
        assert (now.mask == _blob(30, 40, 10)).all() and now.revision == 2
        assert (then.mask == _blob(0, 0, 5)).all() and then.revision == 1

    def test_a_mask_edit_from_a_stale_handle_is_a_conflict_and_the_first_edit_stays(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        road = photo.add_instance("road", mask=_blob(0, 0, 5))
        (stale,) = project.directory.get("streets")[0].instances
        road.update(mask=_blob(20, 20, 5))

        with pytest.raises(ConflictError, match="revision 2 but the edit expected revision 1"):
            stale.update(mask=_blob(40, 40, 5))
        (read,) = project.directory.get("streets")[0].instances
        assert (read.mask == _blob(20, 20, 5)).all()

    def test_a_label_edit_keeps_the_mask(self, project: annolog.Project, photo: annolog.File) -> None:
        photo.add_instance("road", mask=_blob(3, 3, 6)).update(label="car")

        (read,) = project.directory.get("streets")[0].instances
        assert read.label == "car" and (read.mask == _blob(3, 3, 6)).all()

    def test_a_mask_of_another_size_than_its_image_is_refused(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        with pytest.raises(InvalidInputError, match="mask of size 48x64 does not cover its 64x48 image"):
            photo.add_instance("road", mask=np.ones((WIDTH, HEIGHT), dtype=bool))
        assert project.directory.get("streets")[0].instances == []

    def test_a_copied_file_copies_its_masks(self, project: annolog.Project, photo: annolog.File) -> None:
        photo.add_instance("road", mask=_blob(5, 5, 7))
        copy = photo.copy(project.directory.new("copies"))

        assert (copy.instances[0].mask == _blob(5, 5, 7)).all()

    def test_slices_count_masks_by_kind_and_by_label_at_any_version(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        streets = project.directory.get("streets")
        streets.add_file(jpeg(WIDTH, HEIGHT, "blue"), name="empty.jpg")
        before = project.version
        road = photo.add_instance("road", mask=_blob(0, 0, 5))
        photo.add_instance("car", box=(1, 1, 9, 9))

        def names(query: str, version: int | None = None) -> list[str]:
            return [f.name for f in project.directory.get("streets", version=version).slice(query)]

        assert names("instances.mask > 0") == names("labels.road >= 1") == ["street.jpg"]
        assert names("instances.mask = 0") == ["empty.jpg"]
        assert names("instances.mask > 0", before) == []
        road.delete()
        assert names("instances.mask > 0") == []

    def test_a_drawn_mask_is_kept_inline_or_as_a_blob_as_the_threshold_says(
        self, project: annolog.Project, photo: annolog.File, kept_as: str
    ) -> None:
        photo.add_instance("road", mask=_blob(10, 20, 8))

        (read,) = project.directory.get("streets")[0].instances
        stored = read.stored_rle
        assert stored is not None and (stored.counts is None) == (kept_as == "blob")
        assert (stored.counts_sha256 is not None) == (kept_as == "blob")
        assert read.rle is not None and read.rle.counts == masks.encode(_blob(10, 20, 8)).counts
        (entry,) = [h for h in project.history(instance=read) if h.event == "InstanceAdded"]
        assert entry.after is not None and entry.after["mask"]["counts_sha256"] == masks.counts_digest(read.rle)

    def test_a_large_mask_goes_to_a_blob_and_its_edits_and_versions_read_back(
        self, project: annolog.Project, kept_as: str
    ) -> None:
        streets = project.directory.new("streets")
        big = streets.add_file(jpeg(640, 480), name="big.jpg")
        pixels = _noise(480, 640)
        assert len(masks.encode(pixels).counts or "") > INLINE_COUNTS
        road = big.add_instance("road", mask=pixels)
        drawn = project.version
        road.update(label="car")  # keeps the blob, by its digest
        road.update(mask=~pixels)

        assert road.stored_rle is not None and road.stored_rle.counts_sha256 is not None
        (now,) = project.directory.get("streets")[0].instances
        (then,) = project.directory.get("streets", version=drawn)[0].instances
        assert now.label == "car" and (now.mask == ~pixels).all() and now.revision == 3
        assert then.label == "road" and (then.mask == pixels).all()
        assert then.stored_rle is not None and then.stored_rle.counts_size == len(masks.encode(pixels).counts or "")

        old = then.stored_rle.counts_sha256
        assert old is not None  # the first mask's blob is read at the version that had it, not after
        assert project.backend.read_mask(project.directory.get("streets", version=drawn).scope, big.id, old)
        with pytest.raises(NotFoundError, match=f"has a mask stored as blob {old} at version {project.version}"):
            project.backend.read_mask(project.directory.get("streets").scope, big.id, old)

    def test_an_edit_by_another_editor_keeps_a_mask_they_did_not_upload(
        self, project: annolog.Project, photo: annolog.File, connect: Connect
    ) -> None:
        photo.add_instance("road", mask=_blob(3, 3, 6))
        project.grant("ben", "editor")

        (road,) = connect("ben").project(project.name).directory.get("streets")[0].instances
        road.update(label="car")
        (read,) = project.directory.get("streets")[0].instances
        assert read.label == "car" and (read.mask == _blob(3, 3, 6)).all()

    def test_an_edit_keeping_another_writers_mask_blob_may_not_change_its_size(
        self, project: annolog.Project, photo: annolog.File, connect: Connect, kept_as: str
    ) -> None:
        if kept_as == "inline":
            pytest.skip("an inline mask has no blob")
        road = photo.add_instance("road", mask=_blob(3, 3, 6))
        assert road.stored_rle is not None and road.stored_rle.counts_size is not None
        project.grant("ben", "editor")
        ben = connect("ben").project(project.name)
        kept = Mask(**road.stored_rle.model_dump())
        lying = kept.model_copy(update={"counts_size": road.stored_rle.counts_size + 5})
        change = ChangeInstance(instance_id=road.id, expected_revision=1, label="car", kind="mask", mask=lying)

        with pytest.raises(InvalidInputError, match=f"blob {kept.counts_sha256} is .* but the commit"):
            ben.execute([change])
        ben.execute([change.model_copy(update={"mask": kept})])
        assert project.directory.get("streets")[0].instances[0].label == "car"

    def test_a_restricted_instances_mask_blob_is_read_only_with_the_directorys_grant(
        self, project: annolog.Project, connect: Connect, kept_as: str
    ) -> None:
        if kept_as == "inline":
            pytest.skip("an inline mask has no blob")
        secret = project.directory.new("secret", access_type="restricted")
        open_ = project.directory.new("open")
        hidden = secret.add_file(jpeg(WIDTH, HEIGHT), name="hidden.jpg")
        seen = open_.add_file(jpeg(WIDTH, HEIGHT, "blue"), name="seen.jpg")
        road = hidden.add_instance("road", mask=_blob(5, 5, 9))
        assert road.stored_rle is not None and road.stored_rle.counts_sha256 is not None
        sha256 = road.stored_rle.counts_sha256
        project.grant("vic", "viewer")

        vic = connect("vic").project(project.name)
        backend, version = vic.backend, project.version
        with pytest.raises(AccessDenied, match="restricted"):
            backend.read_mask(vic.directory.get("secret").scope, hidden.id, sha256)
        with pytest.raises(NotFoundError):  # the hash, through a file vic may read, opens nothing
            backend.read_mask(vic.directory.get("open").scope, seen.id, sha256)
        project.grant("vic", "viewer", directory=secret)
        (read,) = vic.directory.get("secret", version=version)[0].instances
        assert (read.mask == _blob(5, 5, 9)).all()

    def test_a_mask_blob_hash_learnt_elsewhere_opens_nothing_and_names_nothing(
        self, project: annolog.Project, photo: annolog.File, connect: Connect
    ) -> None:
        photo.add_instance("road", mask=_blob(5, 5, 9))
        theirs, data = in_blob(masks.encode(_blob(5, 5, 9)))
        nowhere, _ = in_blob(masks.encode(_blob(1, 1, 3)))
        assert theirs.counts_sha256 is not None and nowhere.counts_sha256 is not None
        project.backend.store_blob(project.name, data, name="mask.rle")  # ana's project holds these bytes

        mallory = connect("mallory").create_project(f"own-{uuid4().hex[:6]}", labels=["road"])
        mine = mallory.directory.new("mine").add_file(jpeg(WIDTH, HEIGHT), name="mine.jpg")
        answers = []
        for named in (theirs, nowhere):  # the same answer whether the bytes are elsewhere or nowhere
            with pytest.raises(NotFoundError, match="is not in project") as refused:
                mallory.execute([AddInstance(file_id=mine.id, label="road", kind="mask", mask=named)])
            answers.append(str(refused.value).replace(str(named.counts_sha256), "<sha256>"))
            with pytest.raises(NotFoundError, match="has a mask stored as blob"):
                mallory.backend.read_mask(mallory.directory.get("mine").scope, mine.id, str(named.counts_sha256))
        assert answers[0] == answers[1]

    def test_a_mask_blob_declared_in_another_size_than_uploaded_is_refused_and_nothing_is_written(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        kept, data = in_blob(masks.encode(_blob(5, 5, 9)))
        project.backend.store_blob(project.name, data, name="mask.rle")
        wrong = kept.model_copy(update={"counts_size": len(data) + 1})
        version = project.version

        refused = f"blob {kept.counts_sha256} is {len(data)} bytes, but the commit declares {len(data) + 1}"
        with pytest.raises(InvalidInputError, match=refused):
            project.execute([AddInstance(file_id=photo.id, label="road", kind="mask", mask=wrong)])
        assert project.version == version
        project.execute([AddInstance(file_id=photo.id, label="road", kind="mask", mask=kept)])
        (road,) = project.directory.get("streets")[0].instances
        assert (road.mask == _blob(5, 5, 9)).all()

    def test_a_polygon_of_several_parts_keeps_its_rings_and_a_single_ring_has_no_parts(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        rings = [[(0.0, 0.0), (10.0, 0.0), (5.0, 9.0)], [(20.0, 20.0), (30.0, 20.0), (30.0, 30.0), (20.0, 30.0)]]
        photo.add_instance("car", polygons=rings)
        photo.add_instance("road", polygons=rings[:1])

        car, road = sorted(project.directory.get("streets")[0].instances, key=lambda i: i.label)
        assert car.polygons == [tuple(r) for r in rings] and car.parts == (3, 4)
        assert road.polygons == [tuple(rings[0])] and road.parts == () and road.points == tuple(rings[0])


class TestEmbedded(MaskContract):
    """In process, and through the HTTP API in process (the shared ``service``/``connect``)."""

    @pytest.fixture
    def connect(self, connect: Connect) -> Connect:
        return connect


@pytest.mark.kafka
@pytest.mark.postgres
class TestKafkaPostgres(MaskContract):
    @pytest.fixture
    def service(self, postgres_service: Service) -> Service:
        return postgres_service
