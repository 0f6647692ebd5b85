"""plant.yaml ``sources:``: mistakes that would only show at runtime are reported by
``andon plant check`` with file, line and field."""

import pytest

from andon.core import ConfigError
from andon.plant import parse_plant
from andon.plant.sources import ModbusSource, MqttSource, OpcUaNode

PLANT = """\
site: springfield
calendar: {timezone: Europe/Berlin}
areas:
  - id: machining
    lines:
      - id: cell-1
        type: job_shop
        machines:
          - {id: mill-1, type: mill, ideal_cycle_time: 75s}
sources:
"""
FIRST = PLANT.count("\n") + 1
"""The line of the first source's ``type``."""

T = "springfield/machining/cell-1/mill-1"


def problems(sources: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_plant(PLANT + sources, "plant.yaml")
    return [str(p) for p in exc.value.problems]


def mqtt(**fields: str) -> str:
    lines = ["  - type: mqtt", "    name: uns", "    url: mqtt://127.0.0.1:1883"]
    lines += [f"    {k}: {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def only(sources: str) -> str:
    found = problems(sources)
    assert len(found) == 1, found
    return found[0]


def test_valid_sources_load():
    text = mqtt(prefix="acme/uns", share="andon", command_topic="'cmd/{topic}/set'")
    text += f"""\
  - type: sparkplug
    name: spb
    url: mqtt://127.0.0.1:1883
    group: line_1.A
    tag_prefix: acme/springfield
  - type: opcua
    name: cell-1
    url: opc.tcp://127.0.0.1:4840
    nodes:
      - {{tag: {T}/a, node: "ns=2;s=Mill1.Spindle Speed"}}
      - {{tag: {T}/b, node: "ns=3;i=1002"}}
      - {{tag: {T}/c, node: "i=2258"}}
      - {{tag: {T}/d, node: "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a"}}
      - {{tag: {T}/e, node: "ns=2;b=M/RbKBsRVkePCePcx24oRA=="}}
  - type: modbus
    name: meters
    url: modbus://127.0.0.1:502
    registers:
      - {{tag: {T}/f, address: 65532, type: float64}}
      - {{tag: {T}/g, address: 65535}}
"""
    plant = parse_plant(PLANT + text)
    assert [s.name for s in plant.sources] == ["uns", "spb", "cell-1", "meters"]


@pytest.mark.parametrize("url", ["mqtt://andon:s3cret@127.0.0.1", "mqtt://andon@127.0.0.1"])
def test_a_url_with_user_or_password_is_refused(url):
    found = only(mqtt().replace("mqtt://127.0.0.1:1883", url))
    assert found.startswith(f"plant.yaml:{FIRST + 2}: sources[0].url: the URL carries a user")
    assert "username" in found and "password_env" in found
    assert "s3cret" not in found  # the message itself must not repeat the password


@pytest.mark.parametrize("prefix", ["acme/+", "acme/#", "a//b", "/acme", "acme/"])
def test_an_mqtt_prefix_must_be_plain_topic_levels(prefix):
    found = only(mqtt(prefix=f"'{prefix}'"))
    assert found.startswith(f"plant.yaml:{FIRST + 3}: sources[0].prefix: prefix {prefix!r}")


@pytest.mark.parametrize("share", ["a/b", "+", "g#", "''"])
def test_a_share_group_is_one_topic_level(share):
    found = only(mqtt(share=share))
    assert found.startswith(f"plant.yaml:{FIRST + 3}: sources[0].share: share")


@pytest.mark.parametrize(
    ("topic", "why"),
    [
        ("{0}/set", "unknown placeholder {0}"),
        ("{x}", "unknown placeholder {x}"),
        ("{topic!r}/set", "unknown placeholder"),
        ("{topic}/{{set}}", "braces are for the {topic} placeholder only"),
        ("{topic/set", "unmatched brace"),
        ("cmd/set", "must contain {topic} once"),
        ("{topic}/+", "wildcard"),
        ("{topic}//set", "empty topic level"),
    ],
)
def test_a_command_topic_has_only_the_topic_placeholder(topic, why):
    found = only(mqtt(command_topic=f"'{topic}'"))
    assert found.startswith(f"plant.yaml:{FIRST + 3}: sources[0].command_topic:"), found
    assert why in found


def test_the_command_topic_that_failed_at_write_time_is_refused_at_load():
    """``"{0}/set"`` used to load and raise IndexError when andon wrote a command."""
    with pytest.raises(ValueError, match="unknown placeholder"):
        MqttSource(type="mqtt", name="u", url="mqtt://h", command_topic="{0}/set")


def sparkplug(group: str = "'+'", tag_prefix: str = "acme/springfield") -> str:
    return (
        "  - type: sparkplug\n    name: spb\n    url: mqtt://127.0.0.1:1883\n"
        f"    group: {group}\n    tag_prefix: {tag_prefix}\n"
    )


@pytest.mark.parametrize("group", ["a/b", "'a+'", "'#'", "''"])
def test_a_sparkplug_group_is_plus_or_one_group_id(group):
    found = only(sparkplug(group=group))
    assert found.startswith(f"plant.yaml:{FIRST + 3}: sources[0].group:"), found


@pytest.mark.parametrize(
    ("prefix", "why"),
    [
        ("acme", "2 or 3 segments"),
        ("a/b/c/d", "2 or 3 segments"),
        ("Acme/springfield", "segment 1"),
        ("acme/..", "segment 2"),
        ("acme//x", "segment 2"),
    ],
)
def test_a_sparkplug_tag_prefix_is_two_or_three_segments(prefix, why):
    found = only(sparkplug(tag_prefix=prefix))
    assert found.startswith(f"plant.yaml:{FIRST + 4}: sources[0].tag_prefix:"), found
    assert why in found


def opcua(*nodes: str) -> str:
    lines = [
        "  - type: opcua",
        "    name: cell-1",
        "    url: opc.tcp://127.0.0.1:4840",
        "    nodes:",
    ]
    lines += [f'      - {{tag: {T}/t{i}, node: "{n}"}}' for i, n in enumerate(nodes)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "node",
    [
        "Mill1.Spindle",
        "ns=2;x=1",
        "ns=2;s=",
        "ns=2;i=12a",
        "ns=2;i=4294967296",
        "ns=70000;i=1",
        "ns=2;g=not-a-guid",
        "ns=2;b=@@@",
        "ns=2;b=",
        "ns=two;i=1",
        "nsu=urn:acme;s=Mill1",
    ],
)
def test_an_opcua_node_id_must_look_like_one(node):
    found = only(opcua("ns=2;i=1", node))
    assert found.startswith(f"plant.yaml:{FIRST + 5}: sources[0].nodes[1].node: node"), found


def test_opcua_node_ids_that_are_fine():
    for node in ("i=85", "ns=0;i=85", "s=abc", "ns=2;s=a;b=c", "ns=1;b=QQ=="):
        assert OpcUaNode(tag=f"{T}/x", node=node).node == node


def test_one_node_per_tag():
    text = opcua("ns=2;i=1", "ns=2;i=2").replace(f"{T}/t1", f"{T}/t0")
    found = only(text)
    assert found.startswith(f"plant.yaml:{FIRST + 5}: sources[0].nodes[1].tag: duplicate tag")


def modbus(*registers: str) -> str:
    lines = ["  - type: modbus", "    name: meters", "    url: modbus://127.0.0.1:502"]
    lines += ["    registers:", *(f"      - {r}" for r in registers)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("address", "kind"),
    [(65534, "float64"), (65535, "float32"), (65535, "uint32"), (65533, "float64")],
)
def test_a_register_may_not_run_past_the_last_address(address, kind):
    found = only(modbus(f"{{tag: {T}/power, address: {address}, type: {kind}}}"))
    assert found.startswith(f"plant.yaml:{FIRST + 4}: sources[0].registers[0].address:"), found
    assert "past the last Modbus address 65535" in found


def test_one_register_per_tag():
    found = only(
        modbus(
            f"{{tag: {T}/power, address: 0}}",
            f"{{tag: {T}/energy, address: 1}}",
            f"{{tag: {T}/power, address: 2}}",
        )
    )
    assert found == (
        f"plant.yaml:{FIRST + 6}: sources[0].registers[2].tag: duplicate tag '{T}/power' "
        "(first at registers[0])"
    )
    with pytest.raises(ValueError, match="duplicate tag"):
        ModbusSource.model_validate(
            {
                "type": "modbus",
                "name": "m",
                "url": "modbus://h",
                "registers": [{"tag": f"{T}/a", "address": 0}, {"tag": f"{T}/a", "address": 1}],
            }
        )


def test_source_names_are_unique_and_the_second_is_named():
    text = mqtt() + modbus(f"{{tag: {T}/power, address: 0}}").replace("meters", "uns")
    found = only(text)
    assert found == (
        f"plant.yaml:{FIRST + 4}: sources[1].name: duplicate source name 'uns' "
        "(first at sources[0])"
    )


def test_every_source_problem_points_at_its_own_line():
    """Not at the source's first line: the union's type is no key of the document."""
    found = problems(mqtt(qos=2) + modbus(f"{{tag: {T}/power, address: -1}}"))
    assert [p.split(": ")[0:2] for p in found] == [
        [f"plant.yaml:{FIRST + 3}", "sources[0].qos"],
        [f"plant.yaml:{FIRST + 8}", "sources[1].registers[0].address"],
    ]


def test_an_unknown_source_field_suggests_the_right_one():
    found = only(mqtt(comand_topic="'{topic}/set'"))
    assert found.startswith(f"plant.yaml:{FIRST + 3}: sources[0].comand_topic: unknown field")
    assert "did you mean 'command_topic'?" in found


def test_a_sparkplug_source_cannot_share_its_subscription():
    from pydantic import ValidationError

    from andon.plant.sources import SparkplugSource

    with pytest.raises(ValidationError, match="cannot use a shared subscription"):
        SparkplugSource(
            type="sparkplug", name="spb", url="mqtt://127.0.0.1:1883", tag_prefix="a/b", share="g"
        )
