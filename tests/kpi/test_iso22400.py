"""ISO 22400-2 KPIs on one worked example computed by hand (the arithmetic is written next to
each assertion), the list of KPIs andon cannot compute, and zero denominators."""

from __future__ import annotations

from dataclasses import replace

import pytest

from andon.core import NS_PER_S
from andon.core.machine_state import MachineState as M
from andon.kpi.iso22400 import (
    KpiInputs,
    as_dict,
    failures,
    inputs_from_oee,
    iso22400,
    order_execution_s,
)
from andon.kpi.oee import oee
from andon.state.history import Parts, StateHistory

S = NS_PER_S
MIN = 60 * S
T0 = 1_780_000_000 * S  # any instant; no calendar stops in this example
ASSET = "acme/p/a/l/m1"

# The shift, minute by minute from T0 (480 min), micro-stop threshold 120 s:
#   0– 30 SETUP          30 min  -> AUST 1800 s
#  30–150 RUNNING       120 min
# 150–151 DOWN            1 min  -> short: a small stop (ADET), not a failure
# 151–200 RUNNING        49 min
# 200–240 DOWN           40 min  -> a breakdown, a failure (ADET), repair 2400 s
# 240–300 RUNNING        60 min
# 300–330 PLANNED_STOP   30 min  -> not planned busy time
# 330–332 MICRO_STOP      2 min  -> a small stop (ADET)
# 332–400 RUNNING        68 min
# 400–420 STARVED        20 min  -> long: available but not producing (ADOT 1200 s)
# 420–480 RUNNING        60 min
STEPS = [
    (0, M.SETUP),
    (30, M.RUNNING),
    (150, M.DOWN),
    (151, M.RUNNING),
    (200, M.DOWN),
    (240, M.RUNNING),
    (300, M.PLANNED_STOP),
    (330, M.MICRO_STOP),
    (332, M.RUNNING),
    (400, M.STARVED),
    (420, M.RUNNING),
]
END = T0 + 480 * MIN
HISTORY = StateHistory.of(ASSET, T0, END, [(T0 + m * MIN, s, "") for m, s in STEPS])

# 300 parts of one product (ideal cycle time 60 s), one every 24 s from minute 30:
# 285 good, 10 scrap, 5 rework; parts 0..149 belong to order O1, 150..299 to O2.
PART_TS = [T0 + 30 * MIN + i * 24 * S for i in range(300)]
RESULTS = ["good"] * 285 + ["scrap"] * 10 + ["rework"] * 5
PARTS = Parts.of(ASSET, [(ts, "A", r) for ts, r in zip(PART_TS, RESULTS, strict=True)])
ORDERS = ["O1"] * 150 + ["O2"] * 150


def worked_inputs() -> KpiInputs:
    result = oee(HISTORY, PARTS, planned_stops=[], ideal_s=lambda _: 60.0, micro_stop_s=120)
    return inputs_from_oee(
        result,
        failure_data=failures(HISTORY, 120),
        aoet_s=order_execution_s(PART_TS, ORDERS),
        energy_kwh=45.0,
    )


def test_time_elements_follow_the_standard() -> None:
    x = worked_inputs()
    assert x.pbt_s == pytest.approx(27000)  # 480 − 30 planned stop = 450 min
    assert x.apt_s == pytest.approx(21420)  # RUNNING 120+49+60+68+60 = 357 min
    assert x.aust_s == pytest.approx(1800)
    assert x.adet_s == pytest.approx(2580)  # DOWN 2400 (malfunction) + small stops 60 + 120
    assert x.adot_s == pytest.approx(1200)  # STARVED 20 min (available, not producing)
    assert x.aupt_s == pytest.approx(23220)  # APT + AUST
    assert x.aubt_s == pytest.approx(25800)  # APT + AUST + ADET
    assert x.aubt_s + x.adot_s == pytest.approx(x.pbt_s)
    assert (x.pq, x.gq, x.sq, x.rq) == (300, 285, 10, 5)
    assert x.pri_x_pq_s == pytest.approx(18000)  # 300 × 60 s
    assert x.aoet_s == pytest.approx(7152)  # 2 orders × 149 gaps × 24 s


def test_failures_from_down_stops() -> None:
    f = failures(HISTORY, 120)
    assert f.events == 1  # the 60 s DOWN is below the threshold
    assert f.repair_s == (2400.0,)
    assert f.operating_s == pytest.approx(21420)  # all RUNNING
    assert f.to_failure_s == pytest.approx(10140)  # RUNNING before minute 200: 120 + 49 min


def test_failure_exactly_at_threshold_and_consecutive_down_intervals() -> None:
    h = StateHistory.of(
        ASSET,
        0,
        1000 * S,
        [
            (0, M.RUNNING, ""),
            (100 * S, M.DOWN, "jam"),  # 120 s exactly: a failure
            (220 * S, M.RUNNING, ""),
            (500 * S, M.DOWN, "motor"),  # 100 s + 50 s of one stop: 150 s, one failure
            (600 * S, M.DOWN, "waiting for parts"),
            (650 * S, M.IDLE, ""),
            (700 * S, M.RUNNING, ""),
        ],
    )
    f = failures(h, 120)
    assert f.events == 2
    assert f.repair_s == (120.0, 150.0)
    assert f.operating_s == pytest.approx(100 + 280 + 300)
    assert f.to_failure_s == pytest.approx(100 + 280)  # RUNNING before 500 s


def test_every_computable_kpi_on_the_worked_example() -> None:
    v = as_dict(iso22400(worked_inputs()))
    assert v["Availability"] == pytest.approx(21420 / 27000)  # 0.7933
    assert v["Effectiveness"] == pytest.approx(18000 / 21420)  # 0.8403
    assert v["Quality ratio"] == pytest.approx(0.95)  # 285 / 300
    # A × E × QR = 18000/27000 × 0.95 = 0.6333 = OEE's fully productive / PPT = 17100/27000
    assert v["Overall equipment effectiveness index (OEE)"] == pytest.approx(17100 / 27000)
    assert v["Utilization efficiency"] == pytest.approx(21420 / 25800)  # 0.8302
    # UE × E × QR = 18000/25800 × 0.95 = 0.6628
    assert v["Net equipment effectiveness index (NEE)"] == pytest.approx(18000 / 25800 * 0.95)
    assert v["Allocation efficiency"] == pytest.approx(25800 / 27000)  # 0.9556
    assert v["Setup rate"] == pytest.approx(1800 / 23220)  # 0.0775
    assert v["Technical efficiency"] == pytest.approx(21420 / 24000)  # 0.8925
    assert v["Allocation ratio"] == pytest.approx(25800 / 7152)
    assert v["Throughput rate"] == pytest.approx(300 / 7152 * 3600)  # 151.0 units/h
    assert v["Production process ratio"] == pytest.approx(21420 / 7152)
    assert v["Scrap ratio"] == pytest.approx(10 / 300)
    assert v["Rework ratio"] == pytest.approx(5 / 300)
    assert v["First pass yield"] == pytest.approx(0.95)
    assert v["Mean operating time between failures (MTBF)"] == pytest.approx(21420)
    assert v["Mean time to failure (MTTF)"] == pytest.approx(10140)
    assert v["Mean time to repair (MTTR)"] == pytest.approx(2400)
    assert v["Comprehensive energy consumption"] == pytest.approx(0.15)  # 45 kWh / 300
    assert v["Worker efficiency"] is None
    assert v["Corrective maintenance ratio"] is None


def test_inputs_andon_lacks_are_named() -> None:
    x = worked_inputs()
    bare = replace(x, aoet_s=None, energy_kwh=None, failures=None, repair_s=None)
    missing = {k.name: k.missing for k in iso22400(bare) if k.missing}
    assert set(missing) == {
        "Worker efficiency",
        "Allocation ratio",
        "Throughput rate",
        "Production process ratio",
        "Mean operating time between failures (MTBF)",
        "Mean time to failure (MTTF)",
        "Mean time to repair (MTTR)",
        "Corrective maintenance ratio",
        "Comprehensive energy consumption",
    }
    assert any("APWT" in m for m in missing["Worker efficiency"])
    assert any("APAT" in m for m in missing["Worker efficiency"])
    assert any("AOET" in m for m in missing["Throughput rate"])
    assert any("CMT" in m for m in missing["Corrective maintenance ratio"])
    assert any("PMT" in m for m in missing["Corrective maintenance ratio"])
    assert all(k.value is None for k in iso22400(bare) if k.missing)
    # Given, they are computed: 3 h corrective, 1 h preventive -> 0.75; 7 h of 8 h -> 0.875.
    given = replace(
        x,
        corrective_maintenance_s=3 * 3600,
        preventive_maintenance_s=3600,
        apwt_s=7 * 3600,
        apat_s=8 * 3600,
    )
    v = {k.name: k for k in iso22400(given)}
    assert v["Corrective maintenance ratio"].value == pytest.approx(0.75)
    assert v["Worker efficiency"].value == pytest.approx(0.875)
    assert not v["Worker efficiency"].missing


def test_zero_denominators_are_undefined_not_zero() -> None:
    idle = KpiInputs(
        asset=ASSET,
        pbt_s=0.0,
        apt_s=0.0,
        aust_s=0.0,
        adet_s=0.0,
        adot_s=0.0,
        pq=0,
        gq=0,
        sq=0,
        rq=0,
        pri_x_pq_s=0.0,
        aoet_s=0.0,
        energy_kwh=3.0,
        failures=0,
        repair_s=(),
        operating_s=0.0,
        to_failure_s=0.0,
        corrective_maintenance_s=0.0,
        preventive_maintenance_s=0.0,
        apwt_s=0.0,
        apat_s=0.0,
    )
    kpis = iso22400(idle)
    assert len(kpis) == 21
    for k in kpis:
        assert k.value is None, k.name
        assert k.missing == (), k.name


def test_order_execution_time() -> None:
    # O1: 10 s … 70 s = 60 s; O2: one part = 0 s; no order: ignored -> 60 s.
    ts = [10 * S, 30 * S, 70 * S, 80 * S, 90 * S]
    assert order_execution_s(ts, ["O1", "O1", "O1", "O2", None]) == pytest.approx(60)
    assert order_execution_s(ts, [None] * 5) is None


def test_to_dict_is_json_ready() -> None:
    d = iso22400(worked_inputs())[0].to_dict()
    assert set(d) == {"name", "value", "unit", "formula", "missing", "notes"}
    assert isinstance(d["missing"], list) and isinstance(d["notes"], list)


def test_a_ratio_above_one_is_kept_with_a_note_on_the_data() -> None:
    # The worked example's orders span 7152 s (first to last part) while the machine was busy
    # 25800 s and producing 21420 s: allocation ratio 3.61, production process ratio 2.99.
    kpis = {k.name: k for k in iso22400(worked_inputs())}
    alloc = kpis["Allocation ratio"]
    assert alloc.value == pytest.approx(25800 / 7152)  # kept, not clipped
    (note,) = alloc.notes
    assert note.startswith("361% is above 100%,")
    assert "first to its last part" in note and "order number" in note
    assert "data problem" in note
    (note,) = kpis["Production process ratio"].notes
    assert note.startswith("299% is above 100%,") and "in APT but not in AOET" in note
    noted = {name for name, k in kpis.items() if k.notes}
    assert noted == {"Allocation ratio", "Production process ratio"}
    assert kpis["Allocation ratio"].to_dict()["notes"] == [alloc.notes[0]]
    # Parts whose ideal time exceeds the producing time: effectiveness 25000 / 21420 = 1.17.
    fast = {k.name: k for k in iso22400(replace(worked_inputs(), pri_x_pq_s=25000.0))}
    assert fast["Effectiveness"].value == pytest.approx(25000 / 21420)
    (note,) = fast["Effectiveness"].notes
    assert "ideal cycle time too long" in note
    # A × E × QR = 25000/27000 × 0.95 = 0.88: a ratio at or below 1 gets no note
    assert fast["Overall equipment effectiveness index (OEE)"].notes == ()
    # exactly 1 (orders spanning the busy time) is fine
    exact = {k.name: k for k in iso22400(replace(worked_inputs(), aoet_s=25800.0))}
    assert exact["Allocation ratio"].value == pytest.approx(1.0)
    assert exact["Allocation ratio"].notes == ()
