"""Two whole shifts of the job shop's virtual plant in a SQLite historian, closed long ago:
the history the kept-result tests read."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from andon.core.clock import NS_PER_S, now_ns, parse_time
from andon.historian import open_historian
from andon.historian.schema import late_writes
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

START = parse_time("2026-11-23T05:00:00Z")  # Monday 06:00 in Berlin: the early shift
END = START + 16 * 3600 * NS_PER_S  # early and late shifts: closed long ago
H = 3600 * NS_PER_S


def fill(
    db: Path, seed: int = 5, plant_name: str = "job_shop", start: int = START, end: int = END
) -> None:
    """A plant (the job shop) from ``start`` to an hour past ``end`` (so its last stops are
    known)."""
    plant = load_plant(example_plant(plant_name))
    vp = VirtualPlant(plant, seed=seed, start_ns=start)
    with open_historian(f"sqlite:///{db}") as h:
        t = start
        while t < end + H:
            t += H
            batch, events = vp.advance(t)
            h.write(batch)
            h.write_events(events)


def fresh_copy(filled: Path, copy: Path) -> str:
    """A private copy of a filled historian, nothing kept yet, its history written an hour
    ago (its notes of late writes are an hour old, beyond any allowance for clock skew)."""
    copy.write_bytes(filled.read_bytes())
    with open_historian(f"sqlite:///{copy}") as h:
        h.forget()
        with h.engine.begin() as conn:
            conn.execute(sa.update(late_writes).values(written_ns=now_ns() - H))
    return f"sqlite:///{copy}"
