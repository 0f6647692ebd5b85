"""Sparkplug B host and edge node: every protocol rule, a bad-input corpus, and a real broker."""

from __future__ import annotations

import json
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from andon.connect import sparkplug_b_pb2 as pb
from andon.connect.base import WriteRefused
from andon.connect.sparkplug import REBIRTH_RETRY_NS, HostOutput, SparkplugHost
from andon.connect.sparkplug_codec import (
    REBIRTH_METRIC,
    DataType,
    SparkplugError,
    decode_payload,
    metric_segments,
    parse_topic,
    segment,
)
from andon.connect.sparkplug_edge import EdgeNode
from andon.core.errors import InputError
from andon.core.quality import BAD, GOOD, UNCERTAIN
from andon.core.tagpath import tag_path

D = DataType
S = 1_000_000_000
T0 = 1_700_000_000_000  # ms
PREFIX = "acme/sparkplug"
DEV = "Press 1"
DEVICE_METRICS = {
    "Motor/Speed": (D.Float, 100.0),
    "Count": (D.UInt32, 5),
    "Offset": (D.Int16, -3),
    "Mode": (D.String, "auto"),
    "Running": (D.Boolean, True),
    "Started": (D.DateTime, T0),
}
BASE = f"{PREFIX}/line1/gw1"
DTAG = f"{BASE}/press_1"


def make_host() -> SparkplugHost:
    return SparkplugHost("plant-sp", host_id="andon", tag_prefix=PREFIX)


def make_edge() -> EdgeNode:
    return EdgeNode("line1", "gw1", {"Temperature": (D.Double, 20.5)})


Row = tuple[str, int, float | str, int]


def rows(out: HostOutput) -> list[Row]:
    """The samples of an output as (tag, ts, value or text, quality)."""
    b = out.batch
    if b is None:
        return []
    texts = dict(b.strings)
    tags = b.tag_paths()
    return [
        (tags[i], int(b.ts[i]), texts.get(i, float(b.value[i])), int(b.quality[i]))
        for i in range(len(b))
    ]


def value_of(out: HostOutput, tag: str) -> float | str:
    (found,) = [v for t, _, v, _ in rows(out) if t == tag]
    return found


class Session:
    """A host fed by one edge node, with arrival times that step 1 s per message."""

    def __init__(self) -> None:
        self.host = make_host()
        self.edge = make_edge()
        self.now = T0 * 1_000_000 + 100 * S  # arrivals come after the edge's timestamps

    def feed(self, msg: tuple[str, bytes], *, after_ns: int = S) -> HostOutput:
        self.now += after_ns
        return self.host.on_message(msg[0], msg[1], self.now)

    def born(self) -> Session:
        for msg in self.births():
            out = self.feed(msg)
            assert not out.dead_letters and not out.publish
        return self

    def births(self) -> list[tuple[str, bytes]]:
        return [self.edge.nbirth(T0), self.edge.dbirth(DEV, T0, DEVICE_METRICS)]


def rebirths(out: HostOutput) -> list[str]:
    """Topics of the rebirth requests in an output (checked to be real rebirth NCMDs)."""
    found = []
    for topic, payload in out.publish:
        (m,) = decode_payload(payload).metrics
        assert m.name == REBIRTH_METRIC and m.boolean_value and m.datatype == D.Boolean
        found.append(topic)
    return found


# -- topics, names, subscriptions --------------------------------------------------------------


def test_topics_parse_and_bad_topics_say_why() -> None:
    t = parse_topic("spBv1.0/line1/DDATA/gw1/Press 1")
    assert (t.group, t.type.name, t.node, t.device) == ("line1", "DDATA", "gw1", "Press 1")
    assert str(t) == "spBv1.0/line1/DDATA/gw1/Press 1"
    assert parse_topic("spBv1.0/g/NBIRTH/n").device is None
    for bad, why in [
        ("spAv1.0/g/NDATA/n", "does not start"),
        ("spBv1.0/g/NDATA", "expected spBv1.0"),
        ("spBv1.0/g/XDATA/n", "unknown Sparkplug message type"),
        ("spBv1.0/g/DDATA/n", "DDATA topic is"),
        ("spBv1.0/g/NDATA/n/extra", "NDATA topic is"),
        ("spBv1.0//NDATA/n", "group id"),
        ("spBv1.0/g/DDATA/n/", "device id"),
    ]:
        with pytest.raises(SparkplugError, match=why):
            parse_topic(bad)


def test_names_become_safe_tag_path_segments() -> None:
    assert segment("Température Moteur") == "temperature_moteur"
    assert segment("--Press #1--") == "press_1"
    assert segment("..") == segment("..")  # stable
    assert segment("温度").startswith("x") and segment("温度") != segment("圧力")
    assert metric_segments("Motor//Bearing Temp", 3) == ["motor", "bearing_temp"]
    assert metric_segments("a/b/c/d", 2) == ["a_b_c", "d"]
    for name in ["..", "/", "温度", "A B/C+D/#"]:
        tag_path(f"{PREFIX}/g/n/" + "/".join(metric_segments(name, 2)))


def test_host_settings_are_checked() -> None:
    with pytest.raises(InputError, match="2 or 3 segments"):
        SparkplugHost("s", host_id="andon", tag_prefix="acme")
    with pytest.raises(InputError, match="host id"):
        SparkplugHost("s", host_id="a/b", tag_prefix=PREFIX)
    with pytest.raises(InputError, match="tag_prefix"):
        SparkplugHost("s", host_id="andon", tag_prefix="Acme/../x")


def test_subscriptions_cover_births_data_deaths_and_own_state_without_overlap() -> None:
    host = SparkplugHost("s", host_id="andon", group="line1", tag_prefix=PREFIX)
    subs = host.subscriptions()
    assert host.state_topic == "spBv1.0/STATE/andon"
    assert subs[-1] == host.state_topic
    assert "spBv1.0/line1/NBIRTH/+" in subs and "spBv1.0/line1/DDATA/+/+" in subs
    assert not any("CMD" in s or s.endswith("#") for s in subs)
    wild = make_host().subscriptions()
    assert "spBv1.0/+/DDEATH/+/+" in wild
    assert len(wild) == 7


# -- births and data ---------------------------------------------------------------------------


def test_births_define_tags_and_data_by_alias_arrives_with_values_and_times() -> None:
    s = Session()
    nbirth = s.feed(s.edge.nbirth(T0))
    assert [e.kind for e in nbirth.events] == ["sparkplug.online"]
    assert value_of(nbirth, f"{BASE}/temperature") == 20.5
    assert value_of(nbirth, f"{BASE}/bdseq") == 0.0
    assert value_of(nbirth, f"{BASE}/node_control/rebirth") == 0.0
    dbirth = s.feed(s.edge.dbirth(DEV, T0 + 1, DEVICE_METRICS))
    assert not dbirth.dead_letters
    got = {t: v for t, _, v, _ in rows(dbirth)}
    assert got == {
        f"{DTAG}/motor/speed": 100.0,
        f"{DTAG}/count": 5.0,
        f"{DTAG}/offset": -3.0,
        f"{DTAG}/mode": "auto",
        f"{DTAG}/running": 1.0,
        f"{DTAG}/started": float(T0),
    }
    assert {ts for _, ts, _, _ in rows(dbirth)} == {(T0 + 1) * 1_000_000}
    values = {"Offset": -32768, "Count": 4_000_000_000, "Mode": "manual", "Running": False}
    data = s.feed(s.edge.ddata(DEV, values, T0 + 2))
    assert not data.dead_letters and not data.publish
    assert {t: v for t, _, v, _ in rows(data)} == {
        f"{DTAG}/offset": -32768.0,
        f"{DTAG}/count": 4e9,
        f"{DTAG}/mode": "manual",
        f"{DTAG}/running": 0.0,
    }
    assert all(q == GOOD for *_, q in rows(data))
    assert data.batch is not None and data.batch.strings == ((2, "manual"),)
    node = s.feed(s.edge.ndata({"Temperature": 21.0}, T0 + 3, by_name=True))
    assert rows(node) == [(f"{BASE}/temperature", (T0 + 3) * 1_000_000, 21.0, GOOD)]
    assert s.host.online("line1", "gw1") and s.host.online("line1", "gw1", DEV)
    assert f"{DTAG}/motor/speed" in s.host.tags()


def test_signed_integers_read_in_both_wire_forms() -> None:
    s = Session().born()
    msg = s.edge.ddata(DEV, {"Offset": -3}, T0)
    p = decode_payload(msg[1])
    assert p.metrics[0].int_value == 0xFFFFFFFD  # sign-extended to 32 bits, as Tahu sends
    p.metrics[0].int_value = 0xFFFD  # the narrow 16-bit form some gateways send
    assert value_of(s.feed((msg[0], p.SerializeToString())), f"{DTAG}/offset") == -3.0


def test_timestamps_metric_then_payload_then_arrival() -> None:
    s = Session().born()
    topic, payload = s.edge.ddata(DEV, {"Count": 1, "Offset": 2}, T0 + 50)
    p = decode_payload(payload)
    p.metrics[1].ClearField("timestamp")  # Offset: the payload's timestamp
    p.metrics[0].timestamp = T0 + 7  # Count: its own
    out = s.feed((topic, p.SerializeToString()))
    assert {t: ts for t, ts, _, _ in rows(out)} == {
        f"{DTAG}/count": (T0 + 7) * 1_000_000,
        f"{DTAG}/offset": (T0 + 50) * 1_000_000,
    }
    p.ClearField("timestamp")
    p.metrics[1].ClearField("timestamp")
    p.seq = (p.seq + 1) % 256
    out = s.feed((topic, p.SerializeToString()))
    assert {t: ts for t, ts, _, _ in rows(out)}[f"{DTAG}/offset"] == s.now


def test_seq_wraps_after_255_without_rebirth() -> None:
    s = Session().born()
    for i in range(600):
        out = s.feed(s.edge.ddata(DEV, {"Count": i}, T0 + i))
        assert not out.publish and not out.dead_letters
        assert value_of(out, f"{DTAG}/count") == float(i)


def test_historical_and_transient_metrics() -> None:
    s = Session().born()
    s.feed(s.edge.ddata(DEV, {"Count": 10}, T0 + 100))
    old = s.feed(s.edge.ddata(DEV, {"Count": 3}, T0 - 5000, historical=True))
    assert rows(old) == [(f"{DTAG}/count", (T0 - 5000) * 1_000_000, 3.0, GOOD)]
    topic, payload = s.edge.ddata(DEV, {"Offset": 9}, T0 + 101)
    p = decode_payload(payload)
    p.metrics[0].is_transient = True
    assert s.feed((topic, p.SerializeToString())).batch is None  # not to be stored
    death = s.feed(s.edge.ddeath(DEV, T0 + 200))
    # the stale mark carries the last *current* value, not the historical one
    assert value_of(death, f"{DTAG}/count") == 10.0


def test_null_and_non_finite_values_are_bad_quality() -> None:
    s = Session().born()
    out = s.feed(s.edge.ddata(DEV, {"Motor/Speed": None, "Mode": None}, T0))
    got = {t: (v, q) for t, _, v, q in rows(out)}
    assert math.isnan(got[f"{DTAG}/motor/speed"][0]) and got[f"{DTAG}/motor/speed"][1] == BAD
    assert math.isnan(got[f"{DTAG}/mode"][0]) and got[f"{DTAG}/mode"][1] == BAD
    assert not out.dead_letters
    out = s.feed(s.edge.ddata(DEV, {"Motor/Speed": math.inf}, T0))
    ((_, _, v, q),) = rows(out)
    assert math.isnan(v) and q == BAD


def test_unsupported_datatypes_are_reported_once_at_birth_and_skipped_in_data() -> None:
    s = Session()
    s.feed(s.edge.nbirth(T0))
    metrics = {"Count": (D.UInt32, 1)}
    topic, payload = s.edge.dbirth("Robot", T0, metrics)
    p = decode_payload(payload)
    for name, kind in [("Recipe", D.Template), ("Image", D.Bytes), ("Log", D.DataSet)]:
        m = p.metrics.add()
        m.name, m.alias, m.datatype = name, 900 + int(kind), int(kind)
    out = s.feed((topic, p.SerializeToString()))
    (dead,) = out.dead_letters
    assert "'Recipe' (Template)" in dead.reason and "'Image' (Bytes)" in dead.reason
    assert "'Log' (DataSet)" in dead.reason
    assert [t for t, *_ in rows(out)] == [f"{BASE}/robot/count"]
    topic, payload = s.edge.ddata("Robot", {"Count": 2}, T0)
    p = decode_payload(payload)
    m = p.metrics.add()
    m.alias, m.bytes_value = 900 + int(D.Bytes), b"\x00\x01"
    later = s.feed((topic, p.SerializeToString()))
    assert rows(later) == [(f"{BASE}/robot/count", T0 * 1_000_000, 2.0, GOOD)]
    assert not later.dead_letters and not later.publish


def test_colliding_names_get_numbered_tags() -> None:
    s = Session()
    s.feed(s.edge.nbirth(T0))
    out = s.feed(s.edge.dbirth("D", T0, {"Temp A": (D.Double, 1.0), "temp_a": (D.Double, 2.0)}))
    assert sorted(t for t, *_ in rows(out)) == [f"{BASE}/d/temp_a", f"{BASE}/d/temp_a_2"]


# -- seq, rebirth, births missing --------------------------------------------------------------


def test_seq_gap_keeps_data_and_asks_one_rebirth_until_reborn() -> None:
    s = Session().born()
    s.edge.ddata(DEV, {"Count": 1}, T0)  # lost on the way
    gap = s.feed(s.edge.ddata(DEV, {"Count": 2}, T0))
    assert value_of(gap, f"{DTAG}/count") == 2.0  # the values are still true
    assert rebirths(gap) == ["spBv1.0/line1/NCMD/gw1"]
    assert [e.kind for e in gap.events] == ["sparkplug.rebirth_request"]
    assert "seq gap: expected" in gap.events[0].payload["reason"]
    assert s.edge.on_command(*gap.publish[0]).rebirth
    for i in range(5):  # more gaps while waiting: no flood of requests
        s.edge.ddata(DEV, {"Count": i}, T0)
        assert not s.feed(s.edge.ddata(DEV, {"Count": i}, T0)).publish
    s.edge.ddata(DEV, {"Count": 8}, T0)
    late = s.feed(s.edge.ddata(DEV, {"Count": 9}, T0), after_ns=REBIRTH_RETRY_NS)
    assert rebirths(late) == ["spBv1.0/line1/NCMD/gw1"]  # asked again after the retry time
    for msg in s.edge.births(T0 + 10):
        assert not s.feed(msg).publish
    s.edge.ddata(DEV, {"Count": 1}, T0)  # lost again: a new request straight away
    assert rebirths(s.feed(s.edge.ddata(DEV, {"Count": 2}, T0)))


def test_data_before_birth_is_dead_letter_and_asks_rebirth() -> None:
    s = Session()
    s.edge.nbirth(T0)
    s.edge.dbirth(DEV, T0, DEVICE_METRICS)
    out = s.feed(s.edge.ddata(DEV, {"Count": 1}, T0))
    assert out.batch is None and rebirths(out) == ["spBv1.0/line1/NCMD/gw1"]
    assert "before NBIRTH" in out.dead_letters[0].reason
    out = s.feed(s.edge.dbirth(DEV, T0))  # a DBIRTH needs its node born first
    assert "DBIRTH before NBIRTH" in out.dead_letters[0].reason
    s.feed(s.edge.nbirth(T0))
    out = s.feed(s.edge.ddata(DEV, {"Count": 1}, T0))  # node born, device not
    assert "before DBIRTH of device Press 1" in out.dead_letters[0].reason
    assert rebirths(out)
    assert not s.host.online("line1", "gw1", DEV)


def test_unknown_alias_keeps_known_metrics_and_asks_rebirth() -> None:
    s = Session().born()
    topic, payload = s.edge.ddata(DEV, {"Count": 7}, T0)
    p = decode_payload(payload)
    p.metrics.add(alias=999, int_value=1)
    p.metrics.add(name="Nobody", int_value=1)
    out = s.feed((topic, p.SerializeToString()))
    assert value_of(out, f"{DTAG}/count") == 7.0
    (dead,) = out.dead_letters
    assert "unknown alias 999, 'Nobody'" in dead.reason
    assert rebirths(out) and "alias 999" in out.events[0].payload["reason"]


def test_a_new_nbirth_forgets_devices_and_aliases() -> None:
    s = Session().born()
    edge2 = EdgeNode("line1", "gw1", {"Other": (D.Int32, 1)}, bd_seq=1)
    s.feed(edge2.nbirth(T0))
    assert not s.host.online("line1", "gw1", DEV)
    assert f"{DTAG}/count" not in s.host.tags()
    out = s.feed(edge2.ndata({"Other": 5}, T0))
    assert value_of(out, f"{BASE}/other") == 5.0


# -- deaths ------------------------------------------------------------------------------------


def test_ndeath_marks_every_metric_stale_at_arrival_time() -> None:
    s = Session().born()
    s.feed(s.edge.ddata(DEV, {"Count": 42, "Mode": "manual"}, T0 + 10))
    death = s.feed(s.edge.will())
    got = {t: (ts, v, q) for t, ts, v, q in rows(death)}
    assert set(got) == {
        f"{BASE}/bdseq",
        f"{BASE}/node_control/rebirth",
        f"{BASE}/temperature",
        *(f"{DTAG}/{n}" for n in ["motor/speed", "count", "offset", "mode", "running", "started"]),
    }
    assert all(q == UNCERTAIN for _, _, q in got.values())
    assert got[f"{DTAG}/count"] == (s.now, 42.0, UNCERTAIN)
    assert got[f"{DTAG}/mode"] == (s.now, "manual", UNCERTAIN)
    assert [e.kind for e in death.events] == ["sparkplug.offline"]
    assert not s.host.online("line1", "gw1")
    with pytest.raises(WriteRefused):
        s.host.command(f"{BASE}/temperature", 1.0)
    again = s.feed(s.edge.will())  # a second death changes nothing
    assert again.batch is None and not again.dead_letters


def test_stale_mark_never_lands_before_the_last_sample() -> None:
    s = Session().born()
    future_ms = (s.now + 3600 * S) // 1_000_000
    s.feed(s.edge.ddata(DEV, {"Count": 1}, future_ms))  # an edge clock running ahead
    death = s.feed(s.edge.will())
    ts = {t: ts for t, ts, _, _ in rows(death)}
    assert ts[f"{DTAG}/count"] == future_ms * 1_000_000 + 1
    assert ts[f"{BASE}/temperature"] == s.now


def test_ndeath_of_an_older_session_is_ignored() -> None:
    s = Session().born()
    old_will = s.edge.will()  # bdSeq 0
    s.edge.next_session()  # reconnect: bdSeq 1
    for msg in s.births():
        s.feed(msg)
    out = s.feed(old_will)  # the broker delivers the old session's will late
    assert out.batch is None and not out.dead_letters
    (note,) = out.events
    assert note.kind == "sparkplug.stale_death"
    assert (note.payload["bdSeq"], note.payload["current_bdSeq"]) == (0, 1)
    assert s.host.online("line1", "gw1", DEV)
    assert rows(s.feed(s.edge.will()))  # the current will counts


def test_ddeath_marks_only_that_device_stale() -> None:
    s = Session().born()
    out = s.feed(s.edge.ddeath(DEV, T0 + 99))
    assert {t.rsplit("/", 1)[0] for t, *_ in rows(out)} == {DTAG, f"{DTAG}/motor"}
    assert {ts for _, ts, _, _ in rows(out)} == {(T0 + 99) * 1_000_000}
    assert [e.kind for e in out.events] == ["sparkplug.offline"]
    assert s.host.online("line1", "gw1") and not s.host.online("line1", "gw1", DEV)
    assert not s.feed(s.edge.ndata({"Temperature": 1.0}, T0)).dead_letters


# -- STATE -------------------------------------------------------------------------------------


def test_state_payloads_and_own_offline_state_is_answered() -> None:
    host = make_host()
    assert json.loads(host.state_payload(False, 123)) == {"online": False, "timestamp": 123}
    online = host.state_payload(True, 123)
    assert json.loads(online) == {"online": True, "timestamp": 123}
    out = host.on_message(host.state_topic, host.state_payload(False, 123), 1)
    assert out.publish == [(host.state_topic, online)]
    assert host.on_message(host.state_topic, online, 1).publish == []
    other = host.on_message("spBv1.0/STATE/scada", b'{"online":false,"timestamp":5}', 1)
    assert other.publish == [] and other.dead_letters == []


# -- write-back --------------------------------------------------------------------------------


def test_command_writes_by_name_with_the_birth_datatype() -> None:
    s = Session().born()
    topic, payload = s.host.command(f"{DTAG}/offset", -5, ts_ms=T0)
    assert topic == "spBv1.0/line1/DCMD/gw1/Press 1"
    (m,) = decode_payload(payload).metrics
    assert (m.name, m.datatype) == ("Offset", D.Int16)
    cmd = s.edge.on_command(topic, payload)
    assert cmd.device == DEV and not cmd.rebirth and cmd.writes == {"Offset": -5}
    topic, payload = s.host.command(f"{BASE}/temperature", 22)
    assert topic == "spBv1.0/line1/NCMD/gw1"
    assert s.edge.on_command(topic, payload).writes == {"Temperature": 22.0}
    assert s.edge.on_command(*s.host.command(f"{DTAG}/running", False)).writes == {"Running": False}
    assert s.edge.on_command(*s.host.command(f"{DTAG}/mode", "manual")).writes == {"Mode": "manual"}


@pytest.mark.parametrize(
    ("tag", "value", "why"),
    [
        (f"{DTAG}/nothing", 1, "no Sparkplug metric"),
        (f"{DTAG}/offset", 40000, "out of the Int16 range"),
        (f"{DTAG}/offset", 1.5, "whole number"),
        (f"{DTAG}/offset", True, "whole number"),
        (f"{DTAG}/running", 1, "true or false"),
        (f"{DTAG}/mode", 3, "needs a string"),
        (f"{DTAG}/motor/speed", "fast", "needs a number"),
        (f"{DTAG}/count", -1, "out of the UInt32 range"),
    ],
)
def test_command_refuses_unknown_tags_and_wrong_values(tag: str, value: object, why: str) -> None:
    s = Session().born()
    with pytest.raises(WriteRefused, match=why):
        s.host.command(tag, value)  # type: ignore[arg-type]


def test_edge_node_refuses_commands_that_are_not_its_own() -> None:
    edge = make_edge()
    with pytest.raises(SparkplugError, match="not a command"):
        edge.on_command("spBv1.0/line1/NCMD/other", b"")
    with pytest.raises(SparkplugError, match="unknown device"):
        edge.on_command("spBv1.0/line1/DCMD/gw1/ghost", b"")
    p = pb.Payload()
    p.metrics.add(name="Nope", boolean_value=True)
    with pytest.raises(SparkplugError, match="unknown metric"):
        edge.on_command("spBv1.0/line1/NCMD/gw1", p.SerializeToString())


# -- the bad-input corpus ----------------------------------------------------------------------


def _edit(msg: tuple[str, bytes], change: Callable[[pb.Payload], None]) -> tuple[str, bytes]:
    p = decode_payload(msg[1])
    change(p)
    return msg[0], p.SerializeToString()


def _set(field: str, value: object) -> Callable[[pb.Payload], None]:
    def change(p: pb.Payload) -> None:
        setattr(p.metrics[0], field, value)

    return change


DDATA_TOPIC = "spBv1.0/line1/DDATA/gw1/Press 1"
Case = tuple[str, Callable[[EdgeNode], tuple[str, bytes]], str]
# (name, make the bad message, expected: "dead:<reason part>", "rebirth", "bad", "note")
CORPUS: list[Case] = [
    ("random bytes", lambda e: (DDATA_TOPIC, b"\xff\xff\xff\xff"), "dead:not a Sparkplug B"),
    ("JSON, not protobuf", lambda e: (DDATA_TOPIC, b'{"value": 1}'), "dead:not a Sparkplug B"),
    (
        "truncated protobuf",
        lambda e: (
            DDATA_TOPIC,
            pb.Payload(
                seq=1, metrics=[pb.Payload.Metric(alias=2, name="x" * 50)]
            ).SerializeToString()[:-20],
        ),
        "dead:not a Sparkplug B",
    ),
    ("10 MB of garbage", lambda e: (DDATA_TOPIC, b"\xff" * 10_000_000), "dead:not a Sparkplug B"),
    (
        "no seq",
        lambda e: (DDATA_TOPIC, pb.Payload(timestamp=T0).SerializeToString()),
        "dead:seq is missing",
    ),
    (
        "seq above 255",
        lambda e: (DDATA_TOPIC, pb.Payload(seq=300).SerializeToString()),
        "dead:seq is 300",
    ),
    (
        "topic outside spBv1.0",
        lambda e: ("spBv2.0/line1/DDATA/gw1/Press 1", b""),
        "dead:does not start",
    ),
    (
        "unknown message type",
        lambda e: ("spBv1.0/line1/DSTATUS/gw1/Press 1", b""),
        "dead:unknown Sparkplug",
    ),
    (
        "device topic missing device",
        lambda e: ("spBv1.0/line1/DDATA/gw1", b""),
        "dead:DDATA topic is",
    ),
    ("wildcard in topic", lambda e: ("spBv1.0/line1/DDATA/gw1/#", b""), "dead:device id"),
    (
        "STATE not JSON",
        lambda e: ("spBv1.0/STATE/andon", b"ONLINE"),
        "dead:a STATE payload is JSON",
    ),
    (
        "STATE without timestamp",
        lambda e: ("spBv1.0/STATE/andon", b'{"online": false}'),
        "dead:a STATE payload",
    ),
    (
        "STATE with bad UTF-8",
        lambda e: ("spBv1.0/STATE/andon", b'{"online": true, "timestamp": 1, "x": "\xff"}'),
        "dead:a STATE payload",
    ),
    (
        "seq gap",
        lambda e: (e.ddata(DEV, {"Count": 0}, T0), e.ddata(DEV, {"Count": 1}, T0))[1],
        "rebirth",
    ),
    (
        "unknown alias",
        lambda e: _edit(e.ddata(DEV, {"Count": 0}, T0), _set("alias", 4242)),
        "dead:unknown alias 4242",
    ),
    (
        "DDATA of an unborn device",
        lambda e: (DDATA_TOPIC.replace("Press 1", "Ghost"), pb.Payload(seq=0).SerializeToString()),
        "dead:before DBIRTH",
    ),
    (
        "NDATA of an unborn node",
        lambda e: ("spBv1.0/line1/NDATA/gw9", pb.Payload(seq=0).SerializeToString()),
        "dead:before NBIRTH",
    ),
    (
        "string where a number belongs",
        lambda e: _edit(e.ddata(DEV, {"Count": 0}, T0), _set("string_value", "12")),
        "dead:expected int_value",
    ),
    (
        "invalid UTF-8 string",
        lambda e: _edit(
            e.ddata(DEV, {"Mode": "x"}, T0), lambda p: p.metrics[0].MergeFromString(b"\x7a\x01\xff")
        ),
        "dead:not valid UTF-8",
    ),
    (
        "timestamp in the year 3000",
        lambda e: _edit(e.ddata(DEV, {"Count": 0}, T0), _set("timestamp", 32_503_680_000_000)),
        "dead:beyond 2262",
    ),
    ("null metric", lambda e: e.ddata(DEV, {"Count": None}, T0), "bad"),
    ("NaN float", lambda e: e.ddata(DEV, {"Motor/Speed": math.nan}, T0), "bad"),
    (
        "NDEATH with a stale bdSeq",
        lambda e: ("spBv1.0/line1/NDEATH/gw1", EdgeNode("line1", "gw1", bd_seq=7).will()[1]),
        "note",
    ),
    ("NDEATH without bdSeq", lambda e: ("spBv1.0/line1/NDEATH/gw1", b""), "dead:without a bdSeq"),
]


def _good(edge: EdgeNode, i: int) -> tuple[str, bytes]:
    return edge.ddata(DEV, {"Count": 1000 + i}, T0 + i)


def test_bad_input_corpus_dead_letters_rebirths_and_bad_samples_while_good_data_flows() -> None:
    """Every malformed message gives its documented outcome; the good message after each one
    arrives (births are repeated after a rebirth request, as a real edge node does)."""
    assert len(CORPUS) >= 10
    s = Session().born()
    good: list[float] = []
    for i, (name, make, expected) in enumerate(CORPUS):
        out = s.feed(make(s.edge), after_ns=REBIRTH_RETRY_NS + S)
        reasons = [d.reason for d in out.dead_letters]
        if expected.startswith("dead:"):
            assert len(reasons) == 1 and expected[5:] in reasons[0], (name, reasons)
            assert all(len(d.head) <= 4 * 256 for d in out.dead_letters)  # 256 bytes, escaped
        elif expected == "rebirth":
            assert rebirths(out) and not reasons, name
        elif expected == "bad":
            assert [q for *_, q in rows(out)] == [BAD] and not reasons, name
        else:
            assert [e.kind for e in out.events] == ["sparkplug.stale_death"], name
            assert out.batch is None and not reasons, name
        if any(t.endswith("/gw1") for t in rebirths(out)):  # the edge node answers
            assert s.edge.on_command(*out.publish[0]).rebirth, name
            for msg in s.edge.births(T0):
                assert not s.feed(msg).dead_letters
        after = s.feed(_good(s.edge, i))
        assert not after.dead_letters and not after.publish, name
        good.append(float(value_of(after, f"{DTAG}/count")))
    assert good == [1000.0 + i for i in range(len(CORPUS))]


# -- against the real broker -------------------------------------------------------------------


def _client(host: str, port: int, name: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:8]}")
    c.connect_timeout = 5
    return c


def _wait(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _publish_all(client: paho.Client, msgs: Iterable[tuple[str, bytes]]) -> None:
    for topic, payload in msgs:
        client.publish(topic, payload, qos=1).wait_for_publish(5)


def test_edge_node_and_host_over_the_local_broker(mqtt_broker: tuple[str, int]) -> None:
    """A seq gap on the wire makes the host publish an NCMD; the edge node's own client gets
    it, answers with births, and every published value arrives at the host."""
    host_addr, port = mqtt_broker
    group = f"test-{uuid.uuid4().hex[:10]}"
    host = SparkplugHost("it", host_id=f"andon-{group}", group=group, tag_prefix=PREFIX)
    edge = EdgeNode(group, "gw1")
    inbox: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
    commands: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscribed = threading.Event()
    edge_subscribed = threading.Event()

    hc = _client(host_addr, port, "host")
    hc.will_set(host.state_topic, host.state_payload(False, T0), qos=1, retain=True)
    hc.on_message = lambda c, u, m: inbox.put((m.topic, m.payload, time.time_ns()))
    hc.on_subscribe = lambda *a: subscribed.set()
    ec = _client(host_addr, port, "edge")
    ec.will_set(*edge.will(), qos=1)
    ec.on_message = lambda c, u, m: commands.put((m.topic, m.payload))
    ec.on_subscribe = lambda *a: edge_subscribed.set()
    hc.connect(host_addr, port)
    ec.connect(host_addr, port)
    hc.loop_start()
    ec.loop_start()
    try:
        hc.subscribe([(f, 1) for f in host.subscriptions()])
        ec.subscribe(f"spBv1.0/{group}/NCMD/gw1", qos=1)
        assert subscribed.wait(5) and edge_subscribed.wait(5)
        hc.publish(host.state_topic, host.state_payload(True, T0), qos=1, retain=True)

        received: list[float] = []
        requests: list[str] = []

        def pump() -> None:
            """Feed the host what arrived; send what it publishes; let the edge answer."""
            while not inbox.empty():
                topic, payload, arrival = inbox.get()
                out = host.on_message(topic, payload, arrival)
                assert not out.dead_letters, [d.reason for d in out.dead_letters]
                received.extend(float(v) for t, _, v, _ in rows(out) if t.endswith("/dev1/speed"))
                for t, p in out.publish:
                    if t != host.state_topic:
                        requests.append(t)
                        hc.publish(t, p, qos=0)
            while not commands.empty():
                if edge.on_command(*commands.get()).rebirth:
                    _publish_all(ec, edge.births(T0 + 500))

        _publish_all(ec, [edge.nbirth(T0), edge.dbirth("dev1", T0, {"Speed": (D.Double, 0.0)})])
        sent = [0.0]
        for i in range(1, 40):
            msg = edge.ddata("dev1", {"Speed": float(i)}, T0 + i)
            if i == 20:
                continue  # lost between edge and broker: the next message makes a seq gap
            ec.publish(*msg, qos=1).wait_for_publish(5)
            sent.append(float(i))
        _wait(lambda: (pump(), len(requests) == 1)[1], "the rebirth request")
        _wait(
            lambda: (pump(), host.online(group, "gw1", "dev1") and len(received) >= len(sent) + 1)[
                1
            ],
            "all data",
        )
        _publish_all(ec, [edge.ddata("dev1", {"Speed": 99.0}, T0 + 99)])
        _wait(lambda: (pump(), 99.0 in received)[1], "data after the rebirth")
        assert set(sent) <= set(received)
        assert requests == [f"spBv1.0/{group}/NCMD/gw1"]  # one request for the one gap
        assert 20.0 not in received
    finally:
        hc.publish(host.state_topic, b"", qos=1, retain=True).wait_for_publish(5)
        for c in (hc, ec):
            c.disconnect()
            c.loop_stop()
