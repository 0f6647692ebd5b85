"""The arrival check on live Batches: in a real pipeline beside the historian, its findings
written as events and named by ``check_range`` and ``andon data check`` like the rest."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from andon.cli.app import app
from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_MIN, NS_PER_S, now_ns
from andon.core.errors import StorageError
from andon.core.stream import Emit
from andon.datahealth import HealthWatch, check_range
from andon.datahealth.live import ArrivalCheck
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import example_plant, load_plant

S = NS_PER_S
CELL = "springfield/machining/cell-1"
SPEED = f"{CELL}/mill-1/spindle_speed"
TEMP = f"{CELL}/mill-2/bearing_temperature"
runner = CliRunner()


class Replay:
    """A source that sends prepared Batches, each stamped relative to its arrival."""

    name = "replay"

    def __init__(self, make: list) -> None:
        self.make = make

    async def run(self, emit: Emit) -> None:
        for build in self.make:
            await emit(build(now_ns()))


def second(tag: str, offsets_s: list[float], values: list[float] | None = None):
    def build(now: int) -> Batch:
        ts = [now - now % S + round(o * S) for o in offsets_s]
        vals = values if values is not None else [1000.0 + i for i in range(len(ts))]
        return Batch.build([tag], ts, np.zeros(len(ts), np.int32), vals)

    return build


def test_out_of_order_repeated_and_skewed_samples_are_named(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'andon.db'}"
    plant = load_plant(example_plant("job_shop"))
    batches = [
        second(SPEED, [-3, -2, -1]),
        second(SPEED, [-10, -9]),  # older than what it sent a moment ago: out of order
        second(SPEED, [0, 0], [1000.0, 1234.0]),  # the same second twice, another value
        second(TEMP, [90.0, 91.0]),  # a clock a minute and a half fast
        second(TEMP, [-2 * 86400.0]),  # two days behind
    ]
    with open_historian(db) as h:
        check = ArrivalCheck(h)
        asyncio.run(Pipeline([Replay(batches)], [HistorianSink(h), check]).run())
        assert check.found == 2 + 1 + 2 + 2  # two days behind is also out of order
        now = now_ns()
        report = check_range(plant, h, CELL, now - NS_PER_H, now + 5 * NS_PER_MIN, now)
        found = {(f.tag, f.evidence["problem"]): f for f in report.findings if f.check == "arrival"}
        assert set(found) == {
            (SPEED, "out_of_order"),
            (SPEED, "duplicate"),
            (TEMP, "ahead"),
            (TEMP, "behind"),
            (TEMP, "out_of_order"),
        }
        late = found[(SPEED, "out_of_order")]
        assert late.evidence["samples"] == 2 and late.evidence["worst_s"] == 9.0
        assert ", older than one it had already sent (up to 9 seconds earlier)" in late.detail
        fast = found[(TEMP, "ahead")]
        assert re.search(
            r", up to 9[01] seconds after they arrived: its clock runs ahead", fast.detail
        )
        behind = found[(TEMP, "behind")]
        assert ", up to 2.0 days before they arrived: a clock far behind" in behind.detail
        assert behind.start_ns >= now - NS_PER_MIN  # news when it arrived, not two days ago
        assert "the historian kept the first" in found[(SPEED, "duplicate")].detail
        # the watch leaves them be: they are events already
        watch = HealthWatch(plant, h, asset=CELL)
        assert all(e.payload["check"] != "arrival" for e in watch.step(now))
    out = runner.invoke(
        app,
        ["data", "check", "--asset", CELL, "--from", "-1h", "--to", "now", "--json", "--db", db],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    named = {
        (f["tag"], f["evidence"]["problem"])
        for f in json.loads(out.output)["findings"]
        if f["check"] == "arrival"
    }
    assert (SPEED, "out_of_order") in named and (TEMP, "ahead") in named


def test_findings_are_gathered_and_written_once_a_minute(tmp_path: Path) -> None:
    clock = [10**18]

    def found(h) -> list:
        return h.events(None, "datahealth.found", 0, 2 * 10**18, None)

    async def run(h) -> None:
        check = ArrivalCheck(h, clock=lambda: clock[0])
        for _ in range(30):  # a clock two minutes fast, sample after sample
            await check.write(second(TEMP, [120.0])(clock[0]))
            clock[0] += S
        await check.written()
        assert found(h) == []  # not yet
        clock[0] += NS_PER_MIN
        await check.write(second(TEMP, [120.0])(clock[0]))
        await check.written()
        (e,) = found(h)
        assert e.payload["evidence"]["samples"] == 31 and e.payload["check"] == "arrival"
        await check.close()  # nothing more was found: nothing more written
        assert len(found(h)) == 1

    with open_historian(f"sqlite:///{tmp_path / 'andon.db'}") as h:
        asyncio.run(run(h))


def test_a_database_that_refuses_the_findings_does_not_stop_the_data(tmp_path: Path) -> None:
    class Refusing:
        def write_events(self, events: object) -> int:
            raise StorageError("the database is read-only")

    async def run() -> int:
        check = ArrivalCheck(Refusing(), every_ns=0)  # type: ignore[arg-type]
        for k in range(5):
            await check.write(second(TEMP, [120.0 + k])(now_ns()))
        await check.close()
        return check.found

    assert asyncio.run(run()) == 5
