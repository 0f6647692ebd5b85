import numpy as np
import pytest

from andon.core import GOOD, Batch


def test_build_converts_dtypes_and_defaults_quality_to_good():
    b = Batch.build(["s/a/l/m/x"], [3, 1], [0, 0], [1, 2])
    assert b.ts.dtype == np.int64 and b.tag_id.dtype == np.int32
    assert b.value.dtype == np.float64 and b.quality.dtype == np.uint8
    assert (b.quality == GOOD).all()
    assert len(b) == 2


def test_columns_of_different_length_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        Batch.build(["s/a/l/m/x"], [1, 2], [0], [1.0, 2.0])


def test_tag_id_outside_the_dictionary_is_refused():
    with pytest.raises(ValueError, match="outside its tag dictionary"):
        Batch.build(["s/a/l/m/x"], [1], [1], [1.0])


def test_wrong_dtypes_are_refused():
    with pytest.raises(TypeError):
        Batch(
            ("t",),
            np.array([1.5]),
            np.array([0], dtype=np.int32),
            np.array([1.0]),
            np.array([GOOD], dtype=np.uint8),
        )


def test_sorted_orders_by_tag_then_time_and_keeps_strings():
    b = Batch(
        ("s/a/l/m/x", "s/a/l/m/y"),
        np.array([5, 1, 3], dtype=np.int64),
        np.array([1, 1, 0], dtype=np.int32),
        np.array([np.nan, 1.0, 2.0]),
        np.full(3, GOOD, dtype=np.uint8),
        ((0, "hello"),),
    )
    s = b.sorted()
    assert s.ts.tolist() == [3, 1, 5]
    assert s.tag_paths() == ["s/a/l/m/x", "s/a/l/m/y", "s/a/l/m/y"]
    assert s.strings == ((2, "hello"),)


def test_concat_merges_tag_dictionaries():
    a = Batch.build(["s/a/l/m/x", "s/a/l/m/y"], [1, 2], [0, 1], [1.0, 2.0])
    b = Batch.build(["s/a/l/m/y", "s/a/l/m/z"], [3, 4], [0, 1], [3.0, 4.0])
    c = Batch.concat([a, b])
    assert c.tags == ("s/a/l/m/x", "s/a/l/m/y", "s/a/l/m/z")
    assert c.tag_paths() == ["s/a/l/m/x", "s/a/l/m/y", "s/a/l/m/y", "s/a/l/m/z"]
    assert c.value.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert len(Batch.concat([])) == 0
