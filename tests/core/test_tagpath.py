import pytest

from andon.core import TagPath, TagPathError, asset_path, matches, tag_path


def test_five_segment_path_splits_into_asset_and_tag():
    t = TagPath.parse("springfield/machining/cell-1/mill-1/spindle_speed")
    assert t.tag == "spindle_speed"
    assert t.asset == "springfield/machining/cell-1/mill-1"
    assert str(t) == "springfield/machining/cell-1/mill-1/spindle_speed"


def test_enterprise_and_unit_levels_are_allowed():
    assert tag_path("acme/riverside/assembly/line-1/op10/press/force") == (
        "acme/riverside/assembly/line-1/op10/press/force"
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("a/b/c/d", "4 segments"),
        ("a/b/c/d/e/f/g/h", "8 segments"),
        ("a/b//d/e", "segment 3: segment is empty"),
        ("a/b/../d/e", "segment 3"),
        ("a/b/./d/e", "segment 3"),
        ("a/b/+/d/e", "segment 3"),
        ("a/b/#/d/e", "segment 3"),
        ("a/B/c/d/e", "lowercase"),
        ("a/b/c d/d/e", "segment 3"),
        ("a/b/c/d/-e", "segment 5"),
    ],
)
def test_bad_paths_are_refused_with_the_reason(path, reason):
    with pytest.raises(TagPathError, match=reason.replace("+", r"\+")):
        TagPath.parse(path)


def test_too_long_path_is_refused():
    with pytest.raises(TagPathError, match="longer than"):
        tag_path("a/b/c/d/" + "x" * 300)


def test_asset_path_accepts_one_to_six_levels():
    assert asset_path("springfield") == "springfield"
    assert (
        asset_path("springfield/machining/cell-1/mill-1") == "springfield/machining/cell-1/mill-1"
    )
    with pytest.raises(TagPathError):
        asset_path("springfield/")


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("s/a/l/m/t", "s/a/l/m/t", True),
        ("s/+/l/m/t", "s/a/l/m/t", True),
        ("s/#", "s/a/l/m/t", True),
        ("#", "s/a/l/m/t", True),
        ("s/a/l/+", "s/a/l/m/t", False),
        ("s/a/l/m/t/#", "s/a/l/m/t", True),
        ("s/a/x/#", "s/a/l/m/t", False),
    ],
)
def test_mqtt_style_matching(pattern, path, expected):
    assert matches(pattern, path) is expected
