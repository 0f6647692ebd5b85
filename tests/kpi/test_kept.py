"""Closed periods' OEE is kept, read back, and recomputed when late data, an operator's
correction or plant.yaml change what it was computed from."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from shop_history import END, START, H

from andon.core import Batch
from andon.core.clock import NS_PER_S, now_ns
from andon.core.machine_state import MachineState
from andon.historian import Historian, open_historian
from andon.historian.kept import LATE_AFTER_NS, NOTE_AFTER_NS, sample_key
from andon.historian.schema import late_writes
from andon.kpi.assets import asset_oee
from andon.kpi.kept import KIND, KeptOee
from andon.kpi.periods import Period
from andon.plant import Plant, example_plant, load_plant
from andon.state.reasons import correct, enter_parts


def plant() -> Plant:
    return load_plant(example_plant("job_shop"))


def by_shift(p: Plant, h: Historian, start: int = START, end: int = END) -> list[dict[str, object]]:
    return [
        m.to_dict() for row in asset_oee(p, h, p.root, start, end, "shift") for m in row.machines
    ]


def tamper(h: Historian, asset: str, start: int, oee: float) -> None:
    """Rewrite one kept result's OEE (same computation time): only a kept read returns it."""
    (row,) = [r for r in h.kept(KIND, [asset], START, END) if r.start_ns == start]
    body = json.loads(row.body)
    body["oee"] = oee
    h.keep([replace(row, body=json.dumps(body))])


def oee_of(rows: list[dict[str, object]], asset: str, start: int, key: str = "oee") -> object:
    (found,) = [r[key] for r in rows if r["asset"] == asset and r["start_ns"] == start]
    return found


def test_closed_shifts_are_kept_and_read_back_unchanged(db: str) -> None:
    p = plant()
    with open_historian(db) as h:
        first = by_shift(p, h)
        kept = h.kept(KIND, [m.path for m in p.machines()], START, END)
        assert len(kept) == len(p.machines()) * 2  # four machines, two whole shifts
        assert by_shift(p, h) == first
        machine = p.machines()[0].path
        tamper(h, machine, START, 0.123)
        assert oee_of(by_shift(p, h), machine, START) == 0.123  # read from what was kept


def test_a_late_sample_makes_its_shift_be_recomputed(db: str) -> None:
    p = plant()
    ref = p.machines()[0]
    with open_historian(db) as h:
        true = oee_of(by_shift(p, h), ref.path, START, "availability")
        tamper(h, ref.path, START, 0.123)
        tamper(h, ref.path, START + 8 * H, 0.456)
        # the machine said "down" every second for two hours of the early shift (between the
        # samples already stored: a repeated sample stores nothing), written only now
        tag = next(t.name for t in ref.machine.tags if t.signal == "state_code")
        at = START + H + np.arange(7200, dtype=np.int64) * NS_PER_S + NS_PER_S // 2
        h.write(
            Batch.build(
                (ref.tag_path(tag),),
                at,
                np.zeros(7200, np.int32),
                np.full(7200, float(MachineState.DOWN)),
            )
        )
        rows = by_shift(p, h)
        assert oee_of(rows, ref.path, START) != 0.123
        early = oee_of(rows, ref.path, START, "availability")
        assert isinstance(early, float) and isinstance(true, float)
        # recomputed from what is stored now (interleaved "down" samples break the machine's
        # states into short ones; OEE itself follows the parts, which did not change)
        assert early != pytest.approx(true)
        assert oee_of(rows, ref.path, START + 8 * H) == 0.456  # the late shift was untouched


def test_an_operators_correction_makes_its_shift_be_recomputed(db: str) -> None:
    p = plant()
    ref = p.machines()[1]
    with open_historian(db) as h:
        by_shift(p, h)
        tamper(h, ref.path, START, 0.123)
        correct(h, ref.path, START + H, START + 2 * H, "down", "spindle jammed", by="ann")
        early = oee_of(by_shift(p, h), ref.path, START)
        assert early != 0.123


def test_a_changed_plant_yaml_is_not_answered_from_the_old_one(db: str) -> None:
    p = plant()
    ref = p.machines()[2]
    with open_historian(db) as h:
        by_shift(p, h)
        tamper(h, ref.path, START, 0.123)
        assert oee_of(by_shift(p, h), ref.path, START) == 0.123
        machine = ref.machine
        slower = machine.model_copy(update={"ideal_cycle_time": machine.ideal_cycle_time * 0.9})
        changed = p.model_copy(deep=True)
        for line in (ln for a in changed.areas for ln in a.lines):
            line.machines[:] = [slower if m.id == machine.id else m for m in line.machines]
        assert oee_of(by_shift(changed, h), ref.path, START) != 0.123


def test_clipped_and_open_periods_are_not_kept(db: str) -> None:
    p = plant()
    with open_historian(db) as h:
        by_shift(p, h, START + H, END)  # the early shift clipped at 07:00
        starts = {r.start_ns for r in h.kept(KIND, [m.path for m in p.machines()], START, END)}
        assert starts == {START + 8 * H}  # only the late shift, which was whole
        asset_oee(p, h, p.root, START, END, None)  # an arbitrary range: never kept
        assert len(h.kept(KIND, [p.machines()[0].path], START, END)) == 1
    shift = Period("today early", START, START + 8 * H)
    margin = 120 * NS_PER_S
    just_over = START + 8 * H + margin + LATE_AFTER_NS
    assert KeptOee(p, h, now=just_over).closed(shift, margin)
    assert not KeptOee(p, h, now=just_over - 1).closed(shift, margin)


def test_a_shift_is_the_same_asked_alone_or_within_a_longer_range(db: str) -> None:
    p = plant()
    with open_historian(db) as h:
        both = by_shift(p, h)
        h.forget()
        late = by_shift(p, h, START + 8 * H, END)
        assert late == [r for r in both if r["start_ns"] == START + 8 * H]


def test_judged_parts_entered_now_make_the_shift_they_rejudge_be_recomputed(db: str) -> None:
    p = plant()
    ref = p.machines()[0]
    with open_historian(db) as h:
        good = oee_of(by_shift(p, h), ref.path, START, "good")
        assert isinstance(good, int) and good > 0
        # at the start of the late shift an operator scraps the early shift's last parts:
        # an entry about "now"-ish parts is not late, yet it re-judges a closed shift
        enter_parts(h, ref.path, START + 8 * H + 60 * NS_PER_S, "bracket", "scrap", 3, by="ann")
        assert oee_of(by_shift(p, h), ref.path, START, "good") == good - 3


def test_a_database_that_refuses_writes_still_answers(db: str) -> None:
    p = plant()
    path = db.removeprefix("sqlite:///")
    with open_historian(db) as h:
        fresh = by_shift(p, h)
        h.forget()
    with open_historian(f"sqlite:///file:{path}?mode=ro&uri=true", create=False) as ro:
        assert by_shift(p, ro) == fresh  # computed, and not kept: no error


def test_late_writes_are_noted_by_the_clock_after_the_commit(tmp_path: Path) -> None:
    tag = "s/a/l/m/state"
    with open_historian(f"sqlite:///{tmp_path}/j.db") as h:
        now = now_ns()
        on_time = now - NOTE_AFTER_NS + 60 * NS_PER_S
        late = now - NOTE_AFTER_NS - 60 * NS_PER_S
        for ts in (on_time, late):
            h.write(Batch.build((tag,), np.array([ts]), np.zeros(1, np.int32), np.ones(1)))
        notes = h.late_since([sample_key(tag)], 0, now + H, 0)
        assert [hour for _, hour, _ in notes] == [late - late % H]  # only the late one
        ((_, _, first),) = notes
        # the same write again stores nothing new, and is noted again (a retry after a
        # failed note), never earlier than before
        h.write(Batch.build((tag,), np.array([late]), np.zeros(1, np.int32), np.ones(1)))
        ((_, _, again),) = h.late_since([sample_key(tag)], 0, now + H, 0)
        assert again >= first
        with h.engine.begin() as conn:  # a note stamped in the future stays where it is
            conn.execute(sa.update(late_writes).values(written_ns=now + H))
        h.write(Batch.build((tag,), np.array([late]), np.zeros(1, np.int32), np.ones(1)))
        assert h.late_since([sample_key(tag)], 0, now + H, 0)[0][2] == now + H
