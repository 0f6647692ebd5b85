"""plant.yaml validation: every problem reported with file, line and field; nothing else runs."""

from pathlib import Path

import pytest

from andon.core import ConfigError
from andon.plant import example_plant, load_plant, parse_plant

MINIMAL = """\
site: springfield
calendar:
  timezone: Europe/Berlin
products:
  - {id: bracket}
areas:
  - id: machining
    lines:
      - id: cell-1
        type: job_shop
        machines:
          - id: mill-1
            type: mill
            ideal_cycle_time: 75s
            tags:
              - {name: power, unit: kW, interval: 1s, signal: power}
              - {name: spindle_speed, unit: rpm, interval: 1s}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_plant(text, "plant.yaml")
    return [str(p) for p in exc.value.problems]


def test_minimal_plant_loads_and_names_its_tags():
    plant = parse_plant(MINIMAL)
    assert plant.tag_paths() == [
        "springfield/machining/cell-1/mill-1/power",
        "springfield/machining/cell-1/mill-1/spindle_speed",
    ]
    assert plant.machine("mill-1").machine.ideal_cycle_time == 75.0


@pytest.mark.parametrize("name", ["job_shop", "assembly_line"])
def test_examples_load(name):
    plant = load_plant(example_plant(name))
    assert plant.machines()


def test_examples_are_the_documented_ones():
    shop = load_plant(example_plant("job_shop"))
    assert sorted(m.machine.type for m in shop.machines()) == ["grinder", "lathe", "mill", "mill"]
    line = load_plant(example_plant("assembly_line"))
    assert len(line.machines()) == 5
    assert len(line.areas[0].lines[0].buffers) == 4


def test_repo_examples_point_at_the_packaged_files():
    repo = Path(__file__).resolve().parents[2] / "examples"
    for name in ("job_shop", "assembly_line"):
        assert (repo / f"{name}.yaml").read_text() == Path(example_plant(name)).read_text()


def test_typo_in_a_field_names_line_and_suggests_the_field():
    text = MINIMAL.replace("ideal_cycle_time: 75s", "ideal_cyle_time: 75s")
    found = problems(text)
    assert any(
        p.startswith("plant.yaml:14: areas[0].lines[0].machines[0].ideal_cyle_time: unknown field")
        and "did you mean 'ideal_cycle_time'" in p
        for p in found
    ), found
    assert any("machines[0].ideal_cycle_time: required field is missing" in p for p in found)


def test_unitless_tag_is_an_error_on_its_line():
    text = MINIMAL.replace("{name: power, unit: kW,", "{name: power, unit: '',")
    found = problems(text)
    assert found == [
        "plant.yaml:16: areas[0].lines[0].machines[0].tags[0].unit: must not be empty "
        "(write the engineering unit, e.g. mm/s, degC, kW)"
    ]


def test_missing_unit_is_an_error():
    text = MINIMAL.replace("{name: power, unit: kW,", "{name: power,")
    assert problems(text) == [
        "plant.yaml:16: areas[0].lines[0].machines[0].tags[0].unit: required field is missing"
    ]


def test_unknown_time_zone():
    found = problems(MINIMAL.replace("Europe/Berlin", "Europe/Springfield"))
    assert found == [
        "plant.yaml:3: calendar.timezone: unknown time zone 'Europe/Springfield'; use an IANA "
        "name such as 'Europe/Berlin' or 'America/Chicago'"
    ]


def test_duplicate_tag_path():
    text = MINIMAL.replace("{name: spindle_speed,", "{name: power,")
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith(
        "plant.yaml:17: areas[0].lines[0].machines[0].tags[1].name: duplicate"
    )


def test_duplicate_machine_is_a_duplicate_tag_path():
    text = (
        MINIMAL
        + """\
          - id: mill-1
            type: mill
            ideal_cycle_time: 60s
"""
    )
    found = problems(text)
    assert any(
        "plant.yaml:18: areas[0].lines[0].machines[1].id: duplicate machine id" in p for p in found
    ), found


@pytest.mark.parametrize("value", ["0", "0s", "-5s", "'.inf'"])
def test_cycle_time_of_zero_or_less(value):
    found = problems(MINIMAL.replace("ideal_cycle_time: 75s", f"ideal_cycle_time: {value}"))
    assert len(found) == 1
    assert found[0].startswith("plant.yaml:14: areas[0].lines[0].machines[0].ideal_cycle_time:")


def test_every_problem_is_reported_not_just_the_first():
    text = (
        MINIMAL.replace("ideal_cycle_time: 75s", "ideal_cycle_time: 0")
        .replace("unit: kW", "unit: ''")
        .replace("type: mill", "type: Mill")
    )
    assert len(problems(text)) == 3


def test_duplicate_yaml_key_is_reported():
    text = MINIMAL.replace(
        "            type: mill\n", "            type: mill\n            type: lathe\n"
    )
    assert any(
        "plant.yaml:14: areas[0].lines[0].machines[0].type: key appears twice" in p
        for p in problems(text)
    )


def test_unknown_machine_in_routing_and_unknown_product():
    text = MINIMAL.replace("- {id: bracket}", "- {id: bracket, routing: [mill-9]}").replace(
        "ideal_cycle_time: 75s", "ideal_cycle_time: 75s\n            cycle_times: {gizmo: 30s}"
    )
    found = problems(text)
    assert "plant.yaml:5: products[0].routing[0]: no machine with id 'mill-9'" in found
    assert any("cycle_times.gizmo: unknown product 'gizmo'" in p for p in found)


def test_bad_buffer_reference():
    text = MINIMAL.replace(
        "type: job_shop",
        "type: flow\n        buffers: [{upstream: mill-1, downstream: mill-7, capacity: 3}]",
    )
    assert any("buffers[0].downstream: no machine 'mill-7'" in p for p in problems(text))


def test_invalid_yaml_names_the_line():
    found = problems(MINIMAL + "  - id: [unclosed\n")
    assert len(found) == 1 and found[0].startswith("plant.yaml:") and "not valid YAML" in found[0]


def test_not_a_mapping():
    assert problems("- 1\n- 2\n") == [
        "plant.yaml:1: expected a mapping with site, calendar and areas"
    ]


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_plant(tmp_path / "missing.yaml")


def test_break_outside_its_shift_is_an_error():
    text = MINIMAL.replace(
        "  timezone: Europe/Berlin\n",
        "  timezone: Europe/Berlin\n  shifts:\n    - name: early\n      start: '06:00'\n"
        "      end: '14:00'\n      breaks: [{start: '15:00', duration: 15min}]\n",
    )
    found = problems(text)
    assert found == [
        "plant.yaml:8: calendar.shifts[0].breaks[0].start: break at 15:00 starts outside "
        "shift 'early' (06:00-14:00)"
    ]


def test_break_after_midnight_in_a_night_shift_is_fine():
    text = MINIMAL.replace(
        "  timezone: Europe/Berlin\n",
        "  timezone: Europe/Berlin\n  shifts:\n    - name: night\n      start: '22:00'\n"
        "      end: '06:00'\n      breaks: [{start: '02:00', duration: 15min}]\n",
    )
    assert parse_plant(text).calendar.shifts[0].breaks[0].duration == 900


@pytest.mark.parametrize(
    ("cut", "field"),
    [("areas:", "areas"), ("    lines:", "areas[0].lines"), ("        machines:", "machines")],
)
def test_a_plant_needs_areas_lines_and_machines(cut, field):
    head = MINIMAL[: MINIMAL.index(cut)]
    found = problems(head + cut + " []\n")
    assert len(found) == 1 and field in found[0] and "at least 1" in found[0], found


def test_recursive_alias_is_an_error_not_a_crash():
    found = problems(MINIMAL + "extra: &a [*a]\n")
    assert any("extra: unknown field" in p for p in found), found


def test_alias_bomb_is_answered_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    found = problems(MINIMAL + bomb)
    assert any("unknown field" in p for p in found)


def test_state_and_counter_tags_must_be_declared_on_their_lines():
    text = MINIMAL.replace(
        "            ideal_cycle_time: 75s\n",
        """\
            ideal_cycle_time: 75s
            state:
              tag: state_code
            counter: {tag: parts}
""",
    )
    found = problems(text)
    assert found == [
        "plant.yaml:16: areas[0].lines[0].machines[0].state.tag: machine 'mill-1' does not "
        "declare tag 'state_code' in its tags: (declared: power, spindle_speed)",
        "plant.yaml:17: areas[0].lines[0].machines[0].counter.tag: machine 'mill-1' does not "
        "declare tag 'parts' in its tags: (declared: power, spindle_speed)",
    ]


def test_state_rule_conditions_name_declared_tags():
    text = MINIMAL.replace(
        "            ideal_cycle_time: 75s\n",
        """\
            ideal_cycle_time: 75s
            state:
              rules:
                - state: running
                  all:
                    - {tag: power, op: ">", value: 2}
                  any:
                    - {tag: spindle_sped, op: ">", value: 0}
                    - {tag: feed, op: ">", value: 0}
""",
    )
    found = problems(text)
    assert found == [
        "plant.yaml:21: areas[0].lines[0].machines[0].state.rules[0].any[0].tag: machine "
        "'mill-1' does not declare tag 'spindle_sped' in its tags: (declared: power, "
        "spindle_speed); did you mean 'spindle_speed'?",
        "plant.yaml:22: areas[0].lines[0].machines[0].state.rules[0].any[1].tag: machine "
        "'mill-1' does not declare tag 'feed' in its tags: (declared: power, spindle_speed)",
    ]
    fixed = text.replace("spindle_sped", "spindle_speed").replace("tag: feed", "tag: power")
    rules = parse_plant(fixed).machine("mill-1").machine.state
    assert rules is not None and len(rules.rules[0].any) == 2


def test_a_machine_without_tags_names_none_declared():
    text = MINIMAL.replace(
        "            ideal_cycle_time: 75s\n",
        "            ideal_cycle_time: 75s\n            counter: {tag: count}\n",
    )
    text = text[: text.index("            tags:")]
    assert problems(text) == [
        "plant.yaml:15: areas[0].lines[0].machines[0].counter.tag: machine 'mill-1' does not "
        "declare tag 'count' in its tags: (it declares none)"
    ]


def test_line_bottleneck_must_be_a_machine_of_the_line():
    text = MINIMAL.replace(
        "        type: job_shop\n", "        type: job_shop\n        bottleneck: mill-2\n"
    )
    assert problems(text) == [
        "plant.yaml:11: areas[0].lines[0].bottleneck: no machine 'mill-2' in line 'cell-1' "
        "(its machines: mill-1)"
    ]
    ok = parse_plant(text.replace("bottleneck: mill-2", "bottleneck: mill-1"))
    assert ok.areas[0].lines[0].bottleneck == "mill-1"
    assert parse_plant(MINIMAL).areas[0].lines[0].bottleneck is None
