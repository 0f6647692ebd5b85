"""Each check on small hand-computed cases: the expected numbers are written out."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_S, parse_time
from andon.datahealth import checks
from andon.datahealth.checks import Spans
from andon.datahealth.findings import Finding
from andon.datahealth.score import days, tag_scores
from andon.datahealth.tagscan import TagRules, TagScan

S = NS_PER_S


def secs(*t: float) -> np.ndarray:
    return (np.asarray(t, dtype=np.float64) * S).astype(np.int64)


def test_gaps_include_the_ranges_start_and_end() -> None:
    ts = secs(0, 1, 2, 10, 11)
    g = checks.gaps(ts, S, after_ns=-5 * S, before_ns=20 * S)
    # -5 → 0 is 5 s, 2 → 10 is 8 s, 11 → 20 is 9 s: each longer than 3 × 1 s
    assert g.start_ns.tolist() == [-5 * S, 2 * S, 11 * S]
    assert g.end_ns.tolist() == [0, 10 * S, 20 * S]
    assert len(checks.gaps(ts, S, after_ns=0, before_ns=12 * S, gap_multiple=10)) == 0


def test_completeness_and_learned_interval() -> None:
    assert checks.completeness(5, 25 * S, S) == 0.2
    assert checks.completeness(30, 25 * S, S) == 1.0  # capped
    assert checks.completeness(5, 25 * S, None) is None
    assert checks.learn_interval(secs(*range(0, 200, 10))) == (10 * S, True)
    irregular = secs(*range(0, 200, 10), 300)  # 19 intervals of 10 s and one of 110 s
    assert checks.learn_interval(irregular) == (10 * S, False)
    assert checks.learn_interval(secs(5)) == (None, False)


def test_stuck_finds_a_flat_run_and_counts_only_running_time() -> None:
    ts = secs(*range(21))
    value = np.array([1.0, 2.0] + [3.2] * 15 + [4.0, 5.0, 6.0, 7.0])
    found, carry = checks.stuck(ts, value, stuck_after_ns=10 * S)
    assert carry is None
    assert found.start_ns.tolist() == [2 * S] and found.end_ns.tolist() == [16 * S]
    assert found.samples.tolist() == [15] and found.low.tolist() == [3.2]
    # the machine ran only from 0 to 8 s: 6 s of the run, under 10 s
    off, _ = checks.stuck(ts, value, stuck_after_ns=10 * S, running=Spans(secs(0), secs(8)))
    assert len(off) == 0
    on, _ = checks.stuck(ts, value, stuck_after_ns=10 * S, running=Spans(secs(0), secs(13)))
    assert len(on) == 1  # 11 s while running
    jitter = value.copy()
    jitter[2:17] += np.tile([0.0, 0.04], 8)[:15]
    assert len(checks.stuck(ts, jitter, stuck_after_ns=10 * S)[0]) == 0
    assert len(checks.stuck(ts, jitter, stuck_after_ns=10 * S, resolution=0.05)[0]) == 1


def test_the_same_reading_on_both_sides_of_a_dropout_is_not_stuck() -> None:
    # 0.0 bar for 6 s, nothing for 60 s, 0.0 bar for 6 s: 72 s end to end, 12 s of samples
    ts = secs(*range(6), *range(66, 72))
    value = np.zeros(12)
    assert len(checks.stuck(ts, value, stuck_after_ns=10 * S)[0]) == 1  # linked through
    split, _ = checks.stuck(ts, value, stuck_after_ns=10 * S, max_gap_ns=3 * S)
    assert len(split) == 0  # two runs of 5 s each
    # across chunks too: the carried run ends at 5 s, the next chunk starts at 66 s
    first, carry = checks.stuck(
        ts[:6], value[:6], stuck_after_ns=10 * S, max_gap_ns=3 * S, final=False
    )
    rest, _ = checks.stuck(ts[6:], value[6:], stuck_after_ns=10 * S, max_gap_ns=3 * S, carry=carry)
    assert len(first) == 0 and len(rest) == 0


def test_out_of_range_merges_consecutive_samples() -> None:
    ts = secs(*range(7))
    value = np.array([1.0, 5.0, 120.0, 130.0, 2.0, -1.0, 3.0])
    r, _ = checks.out_of_range(ts, value, 0.0, 100.0)
    assert r.start_ns.tolist() == [2 * S, 5 * S]
    assert r.end_ns.tolist() == [3 * S, 5 * S]
    assert r.samples.tolist() == [2, 1]
    assert r.high.tolist() == [130.0, -1.0] and r.low.tolist() == [120.0, -1.0]


def test_bad_quality_runs_and_shares() -> None:
    ts = secs(*range(6))
    q = np.array([192, 0, 0, 64, 0, 192], dtype=np.uint8)
    r, _ = checks.bad_quality(ts, q)
    assert r.start_ns.tolist() == [1 * S, 4 * S] and r.samples.tolist() == [2, 1]
    assert checks.quality_counts(q) == (3, 1)


def test_uncertain_quality_runs_are_neither_bad_nor_good() -> None:
    ts = secs(*range(7))
    q = np.array([192, 64, 100, 0, 191, 192, 64], dtype=np.uint8)
    r, carry = checks.uncertain_quality(ts, q, final=False)
    assert r.start_ns.tolist() == [1 * S, 4 * S] and r.samples.tolist() == [2, 1]
    assert carry is not None  # the last sample's run is still open
    r, _ = checks.uncertain_quality(secs(7), np.array([64], dtype=np.uint8), carry=carry)
    assert r.start_ns.tolist() == [6 * S] and r.samples.tolist() == [2]


def test_spike_is_an_isolated_point_far_from_a_robust_median() -> None:
    noise = np.tile([0.1, -0.1, 0.05, -0.05, 0.0], 12)
    value = 10.0 + noise
    value[30] = 20.0
    ts = secs(*range(60))
    sp, _ = checks.spikes(ts, value)
    assert sp.ts.tolist() == [30 * S] and sp.value.tolist() == [20.0]
    # window 20..40 without the spike: the median of the noise is 10.0, MAD 0.05
    assert sp.median.tolist() == [10.0]
    assert abs(sp.scale[0] - 1.4826 * 0.05) < 1e-12
    burst = value.copy()
    burst[31] = 20.0  # two in a row: not isolated
    assert len(checks.spikes(ts, burst)[0]) == 0
    step = np.concatenate([np.zeros(30), np.full(30, 100.0)])
    assert len(checks.spikes(ts, step)[0]) == 0


def test_a_flat_window_flags_nothing_without_a_floor() -> None:
    ts = secs(*range(40))
    flat = np.full(40, 5.0)
    flat[20] = 6.0
    assert len(checks.spikes(ts, flat)[0]) == 0  # MAD 0, no floor
    assert checks.spikes(ts, flat, min_scale=0.1)[0].ts.tolist() == [20 * S]  # 1.0 > 6 × 0.1
    assert len(checks.spikes(ts, flat, min_scale=0.2)[0]) == 0  # 1.0 < 6 × 0.2


def test_counter_glitches_are_neither_resets_nor_rollovers() -> None:
    value = np.array(
        [100, 101, 102, 50, 51, 3, 4, 65530, 65535, 2, 3, 5000, 8, 65530, 40000], dtype=float
    )
    ts = secs(*range(len(value)))
    g, carry = checks.counter_glitches(ts, value, rollover=65536)
    # 102 → 50: glitch; 51 → 3: reset; 4 → 65530: back past 0 (a glitch, not 65,526 parts
    # in a second); 65535 → 2: rollover; 5000 → 8: reset; 8 → 65530: back past 0;
    # 65530 → 40000: glitch
    assert g.ts.tolist() == [3 * S, 7 * S, 13 * S, 14 * S]
    assert g.before.tolist() == [102.0, 4.0, 8.0, 65530.0]
    assert g.after.tolist() == [50.0, 65530.0, 65530.0, 40000.0]
    assert carry == 40000.0
    g2, _ = checks.counter_glitches(secs(0), np.array([7000.0]), carry=9000.0)
    assert g2.before.tolist() == [9000.0]  # the carried value counts across chunks


def test_future_samples() -> None:
    assert checks.future(secs(0, 10, 16, 20), 12 * S, max_ahead_ns=5 * S).tolist() == [3]


def test_batch_time_problems() -> None:
    batch = Batch.build(
        ["a", "b"],
        [10 * S, 12 * S, 5 * S, 11 * S, 12 * S, 100 * S, 10 * S - 90_000 * S],
        [0, 0, 1, 0, 0, 0, 1],
        [1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 0.0],
    )
    out = checks.batch_time_problems(batch, 10 * S, {"b": 8 * S})
    a, b = out.problems["a"], out.problems["b"]
    assert (a.out_of_order, a.duplicates, a.ahead, a.behind) == ((3,), (4,), (5,), ())
    assert (b.out_of_order, b.duplicates, b.ahead, b.behind) == ((2, 6), (), (), (6,))
    assert out.newest == {"a": 100 * S, "b": 8 * S}
    clean = Batch.build(["a"], [101 * S, 102 * S], [0, 0], [1.0, 1.0])
    assert checks.batch_time_problems(clean, 102 * S, out.newest).problems == {}


def test_overlap_with_spans() -> None:
    spans = Spans(secs(0, 20), secs(10, 30))
    got = checks.overlap_ns(secs(5, -5, 12, 0), secs(25, 0, 18, 40), spans)
    assert got.tolist() == [10 * S, 0, 0, 20 * S]


def test_score_of_a_day_with_missing_samples_and_one_gap() -> None:
    ts = secs(*range(80))  # 80 of 100 expected samples, then silence from 79 s to 100 s
    scan = TagScan(TagRules(interval_ns=S), 0, 100 * S, secs(0))
    scan.feed(ts, np.arange(80.0), np.full(80, 192, dtype=np.uint8))
    r = scan.finish()
    assert r.gaps.start_ns.tolist() == [79 * S] and r.gaps.end_ns.tolist() == [100 * S]
    # completeness 0.8 loses 35 × 0.2 = 7 points, one gap 10 × 1/4 = 2.5
    assert tag_scores(r, secs(0), secs(100)).tolist() == [90.5]


def test_days_follow_the_plants_time_zone_across_dst() -> None:
    start = parse_time("2026-03-28T23:00:00Z")  # midnight in Berlin, the day clocks go forward
    names, lo, hi = days("Europe/Berlin", start, start + 30 * NS_PER_H)
    assert names == ["2026-03-29", "2026-03-30"]
    assert (hi[0] - lo[0]) == 23 * NS_PER_H and hi[1] - lo[1] == 7 * NS_PER_H


def test_finding_to_dict() -> None:
    f = Finding("s/a/l/m/t", "stuck", 0, 60 * S, "t on m read exactly 3.20 mm/s", {"value": 3.2})
    assert f.to_dict() == {
        "tag": "s/a/l/m/t",
        "check": "stuck",
        "start": "1970-01-01T00:00:00.000Z",
        "end": "1970-01-01T00:01:00.000Z",
        "detail": "t on m read exactly 3.20 mm/s",
        "evidence": {"value": 3.2},
    }


def _time_problems_one_by_one(batch: Batch, arrival: int, last: dict[str, int]):
    """The rules sample by sample, for the vectorised version to be held against."""
    newest = dict(last)
    seen: dict[tuple[str, int], float] = {}
    out: dict[str, list[list[int]]] = {}
    for i in range(len(batch)):
        tag = batch.tags[int(batch.tag_id[i])]
        t, v = int(batch.ts[i]), float(batch.value[i])
        found = out.setdefault(tag, [[], [], [], []])
        if tag in newest and t < newest[tag]:
            found[0].append(i)
        if (tag, t) in seen and not (
            seen[(tag, t)] == v or (np.isnan(v) and np.isnan(seen[(tag, t)]))
        ):
            found[1].append(i)
        seen.setdefault((tag, t), v)
        if t > arrival + checks.MAX_AHEAD_NS:
            found[2].append(i)
        if t < arrival - checks.MAX_BEHIND_NS:
            found[3].append(i)
        newest[tag] = max(newest.get(tag, t), t)
    problems = {k: tuple(tuple(sorted(x)) for x in v) for k, v in out.items() if any(v)}
    return problems, newest


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(-100, 100),
            st.sampled_from([1.0, 2.0, float("nan")]),
        ),
        max_size=60,
    ),
    st.dictionaries(st.sampled_from("abcd"), st.integers(-100, 100), max_size=4),
)
@settings(max_examples=300, deadline=None)
def test_batch_time_problems_match_the_rules_sample_by_sample(rows, last) -> None:
    batch = Batch.build(
        list("abcd"),
        [t * 1000 * S for _, t, _ in rows],  # ±100,000 s: some ahead, some a day behind
        [k for k, _, _ in rows],
        [v for _, _, v in rows],
    )
    last_ns = {k: t * 1000 * S for k, t in last.items()}
    out = checks.batch_time_problems(batch, 0, last_ns)
    got = {
        k: tuple(tuple(sorted(x)) for x in (p.out_of_order, p.duplicates, p.ahead, p.behind))
        for k, p in out.problems.items()
    }
    want, newest = _time_problems_one_by_one(batch, 0, last_ns)
    assert got == want
    assert out.newest == newest
