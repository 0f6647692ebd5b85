"""Cases a review found: one-sided limits, gaps at now, dead sensors, a year of gaps, states
sent on change, and noise on a tag without limits. Expected numbers are written out."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_MIN, NS_PER_S, iso, parse_time
from andon.datahealth import check_range
from andon.datahealth.checks import Glitches, Runs, Spans, Spikes
from andon.datahealth.findings import tag_findings
from andon.datahealth.scan import rules_for
from andon.datahealth.score import tag_scores
from andon.datahealth.tagscan import TagResult, TagRules, TagScan
from andon.historian import Historian, open_historian
from andon.plant import Plant, parse_plant

S = NS_PER_S
START = parse_time("2025-03-03T06:00:00Z")
END = START + NS_PER_H
M = "springfield/machining/cell-1/mill-1"
PLANT = """\
site: springfield
calendar:
  timezone: UTC
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
              - {name: state_code, unit: code, signal: state_code}
              - {name: spindle_speed, unit: rpm, interval: 1s, low: 0, high: 10000}
              - {name: coolant_temperature, unit: degC, interval: 1s, low: 0}
              - {name: vibration, unit: mm/s}
"""


def plant() -> Plant:
    return parse_plant(PLANT)


def write(h: Historian, tag: str, ts: np.ndarray, value: np.ndarray) -> None:
    h.write(Batch.build([f"{M}/{tag}"], ts, np.zeros(len(ts), dtype=np.int64), value))


def seconds(a: int, b: int) -> np.ndarray:
    return START + np.arange(a, b, dtype=np.int64) * S


def test_a_lone_lower_limit_of_0_is_named_not_minus_infinity() -> None:
    rules = TagRules(low=0.0, stuck_after_ns=None, spikes=False)
    scan = TagScan(rules, 0, 10 * S, np.array([0], dtype=np.int64))
    ts = np.arange(5, dtype=np.int64) * S
    scan.feed(ts, np.array([2.0, 1.0, -3.0, 1.0, 2.0]), np.full(5, 192, dtype=np.uint8))
    (f,) = tag_findings("t", "coolant_temperature on mill-1", "degC", scan.finish())
    assert f.detail == (
        "coolant_temperature on mill-1 read -3.00 degC, below its lower limit 0.00 degC (1 sample)"
    )
    high = TagRules(high=100.0, stuck_after_ns=None, spikes=False)
    scan = TagScan(high, 0, 10 * S, np.array([0], dtype=np.int64))
    scan.feed(ts[:1], np.array([120.0]), np.full(1, 192, dtype=np.uint8))
    (f,) = tag_findings("t", "x", "bar", scan.finish())
    assert "120.0 bar, above its upper limit 100.0 bar" in f.detail


def test_a_healthy_tag_is_no_gap_at_now_while_its_last_samples_settle(tmp_path: Path) -> None:
    with open_historian(f"sqlite:///{tmp_path / 'h.db'}") as h:
        write(h, "spindle_speed", seconds(0, 3596), 1000.0 + np.arange(3596) % 7)
        # the last sample is 4 s old at now = END: 4 s > 3 intervals, but not settled
        report = check_range(plant(), h, "mill-1", START, END, END)
        speed = [f for f in report.findings if f.tag == f"{M}/spindle_speed"]
        assert speed == []
        # a minute later the silence is 64 s: longer than the 30 s settle time, a gap
        later = check_range(
            plant(), h, "mill-1", START + NS_PER_MIN, END + NS_PER_MIN, END + NS_PER_MIN
        )
        (gap,) = [f for f in later.findings if f.tag == f"{M}/spindle_speed"]
        assert (gap.check, gap.start_ns, gap.end_ns) == ("gap", START + 3595 * S, END + NS_PER_MIN)
        # a range that ended long ago settles nothing: 4 s at its end is a gap
        past = check_range(plant(), h, "mill-1", START, END, END + NS_PER_H)
        (gap,) = [f for f in past.findings if f.tag == f"{M}/spindle_speed"]
        assert (gap.start_ns, gap.end_ns) == (START + 3595 * S, END)


def test_a_dead_sensor_without_an_interval_is_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with open_historian(f"sqlite:///{tmp_path / 'h.db'}") as h:
        # 1 Hz for the hour before the range, then nothing
        write(h, "vibration", seconds(-3600, 0), 2.0 + 0.1 * rng.standard_normal(3600))
        report = check_range(plant(), h, "mill-1", START, END, END)
        (dead,) = [f for f in report.findings if f.tag == f"{M}/vibration"]
        assert dead.check == "gap" and (dead.start_ns, dead.end_ns) == (START, END)
        assert dead.detail == (
            f"vibration on mill-1 sent nothing in the range; last sample at {iso(START - S)}"
        )
        assert report.tags[f"{M}/vibration"] == {"2025-03-03": 0.0}
        # five samples in the range: the 1 s interval is learned from the hour before it
        write(h, "vibration", seconds(1000, 1005), np.full(5, 2.0))
        report = check_range(plant(), h, "mill-1", START, END, END)
        gaps = [(f.start_ns, f.end_ns) for f in report.findings if f.tag == f"{M}/vibration"]
        assert gaps == [(START + 1004 * S, END), (START, START + 1000 * S)]


def test_gaps_are_counted_per_day_without_a_days_by_gaps_matrix() -> None:
    day = 86400 * S
    lo = np.arange(366, dtype=np.int64) * day
    hi = lo + day
    # a gap across the first midnight counts on both days; 500 000 short gaps on the last day
    many = lo[-1] + np.arange(500_000, dtype=np.int64) * 100_000_000
    start = np.concatenate(([100 * S, day - 100 * S], many))
    end = np.concatenate(([200 * S, day + 100 * S], many + 50_000_000))
    full = np.full(366, 86400, dtype=np.int64)
    zero = np.zeros(366, dtype=np.int64)
    r = TagResult(
        TagRules(interval_ns=S),
        int(full.sum()),
        Spans(start, end),
        Runs.empty(),
        Runs.empty(),
        Runs.empty(),
        Runs.empty(),
        Spikes(*(np.empty(0, t) for t in (np.int64, np.float64, np.float64, np.float64))),
        Glitches(np.empty(0, np.int64), np.empty(0), np.empty(0)),
        full,
        zero,
        zero,
        zero,
        zero,
        zero,
        0,
        int(hi[-1]),
    )
    tracemalloc.start()
    scores = tag_scores(r, lo, hi)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # day 0: 2 gaps (10 × 2/4 = 5 points); day 1: 1 gap; days 2-364 none; day 365: all 10
    assert scores[:3].tolist() == [95.0, 97.5, 100.0]
    assert scores[-1] == 90.0 and set(scores[2:-1].tolist()) == {100.0}
    assert peak < 50 * 2**20  # a 366 × 500 002 boolean matrix is 183 MB


def test_a_state_sent_on_change_lets_the_stuck_check_see_a_frozen_sensor(tmp_path: Path) -> None:
    with open_historian(f"sqlite:///{tmp_path / 'h.db'}") as h:
        write(h, "spindle_speed", seconds(0, 3600), np.full(3600, 1200.0))
        # RUNNING sent once, 10 minutes before the range: the machine runs all through it
        write(h, "state_code", np.array([START - 600 * S]), np.array([1.0]))
        report = check_range(plant(), h, "mill-1", START, END, END + NS_PER_H)
        (stuck,) = [f for f in report.findings if f.check == "stuck"]
        assert stuck.detail == (
            "spindle_speed on mill-1 read exactly 1200.0 rpm for 60 minutes while the machine "
            "was running: a frozen sensor or a dead PLC value"
        )
        # IDLE from 6:05 to 6:55 (sent on change): running 5 + 5 minutes, under 10
        write(h, "state_code", START + np.array([300, 3300]) * S, np.array([2.0, 1.0]))
        report = check_range(plant(), h, "mill-1", START, END, END + NS_PER_H)
        assert [f for f in report.findings if f.check == "stuck"] == []
        # IDLE from 6:05 to 6:40: running 5 + 20 minutes
        write(h, "state_code", START + np.array([2400]) * S, np.array([1.0]))
        report = check_range(plant(), h, "mill-1", START, END, END + NS_PER_H)
        assert [f.tag for f in report.findings if f.check == "stuck"] == [f"{M}/spindle_speed"]


def _spikes_on_noise(value: np.ndarray) -> list[int]:
    tag = plant().machines()[0].machine.tags[3]  # vibration: no limits, no interval
    ts = np.arange(len(value), dtype=np.int64) * S
    rules = rules_for(tag, ts, is_state=False, rollover=None, running=None, first_page_value=value)
    scan = TagScan(rules, 0, len(value) * S, np.array([0], dtype=np.int64))
    scan.feed(ts, value, np.full(len(value), 192, dtype=np.uint8))
    found = tag_findings("t", "vibration on mill-1", "mm/s", scan.finish())
    return [f.start_ns // S for f in found if f.check == "spike"]


def test_gaussian_noise_on_a_tag_without_limits_is_no_spike() -> None:
    value = 5.0 + 0.2 * np.random.default_rng(7).standard_normal(86400)
    assert _spikes_on_noise(value) == []  # the 21-sample MAD alone flags 18
    value[40_000] += 10 * 0.2
    assert _spikes_on_noise(value) == [40_000]
