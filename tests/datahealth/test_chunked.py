"""A range fed in chunks gives the same findings as one pass, wherever the chunks are cut."""

from __future__ import annotations

import numpy as np
import pytest

from andon.core.clock import NS_PER_S
from andon.datahealth.checks import Spans
from andon.datahealth.tagscan import TagResult, TagRules, TagScan

S = NS_PER_S
N = 5000


def faulty_tag() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy 1 s tag with every fault: gaps, a long stuck run, out-of-range runs, spikes,
    BAD stretches and counter-like drops."""
    rng = np.random.default_rng(3)
    ts = np.arange(N, dtype=np.int64) * S
    keep = np.ones(N, dtype=bool)
    keep[1000:1040] = False  # a 41 s gap
    keep[4990:] = False  # silent at the end
    value = 50.0 + rng.standard_normal(N)
    value[2000:2900] = 42.0  # stuck for 15 minutes, across many chunk edges
    value[3000:3010] = 150.0  # out of range
    value[3500] = 500.0  # out of range and a spike
    value[[500, 1500, 2950, 4200]] += 30.0  # spikes
    quality = np.full(N, 192, dtype=np.uint8)
    quality[600:620] = 0
    quality[700:705] = 64
    return ts[keep], value[keep], quality[keep]


RULES = TagRules(
    interval_ns=S,
    low=0.0,
    high=100.0,
    stuck_after_ns=600 * S,
    running=Spans(np.array([0], dtype=np.int64), np.array([N * S], dtype=np.int64)),
    spike_min_scale=1.0,
)
COUNTER = TagRules(interval_ns=S, stuck_after_ns=None, spikes=False, rollover=65536.0)


def run(rules: TagRules, cols: tuple[np.ndarray, ...], chunk: int | None) -> TagResult:
    ts, value, quality = cols
    scan = TagScan(rules, -5 * S, N * S + 5 * S, np.array([-5 * S, 3600 * S], dtype=np.int64))
    step = chunk or len(ts)
    for i in range(0, len(ts), step):
        scan.feed(ts[i : i + step], value[i : i + step], quality[i : i + step])
    return scan.finish()


def as_lists(r: TagResult) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {"received": [r.received]}
    parts = ("gaps", "stuck", "out_of_range", "bad_quality", "uncertain_quality", "spikes")
    for name in (*parts, "glitches"):
        part = getattr(r, name)
        for f in part.__dataclass_fields__:
            out[f"{name}.{f}"] = getattr(part, f).tolist()
    for name in ("received", "bad", "uncertain", "out_of_range", "spikes", "glitches"):
        out[f"day_{name}"] = getattr(r, f"day_{name}").tolist()
    return out


@pytest.mark.parametrize("chunk", [1, 7, 22, 23, 100, 899, 2048])
def test_chunks_give_the_same_findings_as_one_pass(chunk: int) -> None:
    cols = faulty_tag()
    whole = run(RULES, cols, None)
    assert as_lists(run(RULES, cols, chunk)) == as_lists(whole)


def test_the_faulty_tag_shows_every_fault() -> None:
    r = run(RULES, faulty_tag(), None)
    assert r.gaps.start_ns.tolist() == [-5 * S, 999 * S, 4989 * S]
    assert r.stuck.start_ns.tolist() == [2000 * S] and r.stuck.end_ns.tolist() == [2899 * S]
    assert r.out_of_range.samples.tolist() == [10, 1]
    assert sorted(r.spikes.ts.tolist()) == [500 * S, 1500 * S, 2950 * S, 3500 * S, 4200 * S]
    assert r.bad_quality.samples.tolist() == [20]
    assert r.day_uncertain.tolist() == [5, 0] and r.day_bad.tolist() == [20, 0]
    assert r.uncertain_quality.samples.tolist() == [5]


@pytest.mark.parametrize("chunk", [1, 3, 50])
def test_counter_chunks(chunk: int) -> None:
    value = np.tile(np.arange(0.0, 200.0), 5)  # resets to 0 every 200 samples
    value[[250, 777]] = 20.0  # two glitches
    ts = np.arange(len(value), dtype=np.int64) * S
    cols = (ts, value, np.full(len(value), 192, dtype=np.uint8))
    whole = run(COUNTER, cols, None)
    assert whole.glitches.ts.tolist() == [250 * S, 777 * S]
    assert as_lists(run(COUNTER, cols, chunk)) == as_lists(whole)
