"""A slice query evaluated frame by frame (core.query.frames): frame predicates read the frame,
the parts that read no frame are the file's, and not/or combine them per frame."""

from collections.abc import Callable

from annolog.core.query import Expr, Frame, file_parts, frame_label_names, holds_on_frame, parse


def _never(part: Expr) -> bool:
    raise AssertionError(f"no part of the query reads the file, but {part} was asked")


def test_frame_predicates_read_the_index_and_label_counts_with_zero_for_a_label_absent() -> None:
    frame = Frame(12, {"car": 2})

    assert holds_on_frame(parse("frame.index >= 12 and frame.labels.car = 2"), frame, _never)
    assert holds_on_frame(parse("frame.labels.person = 0 and frame.index in [3, 12]"), frame, _never)
    assert not holds_on_frame(parse("frame.labels.car > 2 or frame.index != 12"), frame, _never)


def test_a_picture_has_no_frame_so_frame_predicates_are_false_and_their_negation_true() -> None:
    picture = Frame(None, {})

    assert not holds_on_frame(parse("frame.labels.car = 0"), picture, _never)
    assert holds_on_frame(parse("not frame.index >= 0"), picture, _never)


def test_not_and_or_combine_the_file_s_value_and_the_frame_s_frame_by_frame() -> None:
    query = parse('not file.name = "a.mp4" or not frame.labels.car >= 2')
    frames = [Frame(0, {"car": 1}), Frame(1, {"car": 2}), Frame(2, {})]

    def of(name: str) -> Callable[[Expr], bool]:
        def value(part: Expr) -> bool:
            assert part == parse('not file.name = "a.mp4"')
            return name != "a.mp4"

        return value

    assert [f.index for f in frames if holds_on_frame(query, f, of("a.mp4"))] == [0, 2]
    assert [f.index for f in frames if holds_on_frame(query, f, of("b.mp4"))] == [0, 1, 2]


def test_the_parts_asked_of_the_file_are_the_largest_that_read_no_frame() -> None:
    query = parse("(labels.car > 0 and file.width > 2) or not (frame.index = 3 and attributes.x exists)")
    asked: list[Expr] = []

    def on_file(part: Expr) -> bool:
        asked.append(part)
        return False

    holds_on_frame(query, Frame(3, {}), on_file)

    assert file_parts(query) == [parse("labels.car > 0 and file.width > 2"), parse("attributes.x exists")]
    assert asked == file_parts(query)


def test_the_labels_counted_per_frame_are_those_frame_labels_names() -> None:
    assert frame_label_names(
        parse('labels.dog > 0 and (frame.labels.car = 1 or not frame.labels."big truck" > 0)')
    ) == {
        "car",
        "big truck",
    }
