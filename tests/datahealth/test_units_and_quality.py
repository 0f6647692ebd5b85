"""Limits declared with a unit, and samples their source marks UNCERTAIN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_S, parse_time
from andon.core.errors import ConfigError
from andon.datahealth import check_range
from andon.historian import open_historian
from andon.plant import parse_plant

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
              - {name: coolant_temperature, unit: degC, interval: 1s, LIMITS}
"""


def with_limits(limits: str):
    return parse_plant(PLANT.replace("LIMITS", limits))


def test_limits_in_the_tags_unit_are_taken_with_or_without_it() -> None:
    tag = with_limits('low: "-5 degC", high: 60').machines()[0].machine.tags[0]
    assert (tag.low, tag.high) == (-5.0, 60.0)
    tag = with_limits('high: "1.5e2 degC"').machines()[0].machine.tags[0]
    assert tag.high == 150.0
    per_minute = PLANT.replace("unit: degC", "unit: 1/min").replace("LIMITS", 'high: "60 1/min"')
    assert parse_plant(per_minute).machines()[0].machine.tags[0].high == 60.0


@pytest.mark.parametrize(
    ("limits", "said"),
    [
        ('high: "140 degF"', "the limit '140 degF' is in degF but the tag's unit is degC"),
        ('low: "0 K"', "is in K but the tag's unit is degC: give the limit in degC"),
        ('high: "hot"', "'hot' is not a limit: expected a number in the tag's unit"),
        ('high: "1,000 degC"', "'1,000 degC' is not a limit"),
    ],
)
def test_a_limit_in_another_unit_is_refused_with_its_line(limits: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        with_limits(limits)
    text = str(err.value)
    assert "plant.yaml:16" in text and "tags[0]." in text and said in text


def test_samples_marked_uncertain_by_their_source_are_a_finding(tmp_path: Path) -> None:
    plant = with_limits("low: 0, high: 80")
    tag = f"{M}/coolant_temperature"
    ts = START + np.arange(3600, dtype=np.int64) * S
    value = 20.0 + 0.5 * np.sin(np.arange(3600) / 60.0)
    quality = np.full(3600, 192, dtype=np.uint8)
    quality[600:1200] = 64  # ten minutes stale: the source lost its sensor and says so
    with open_historian(f"sqlite:///{tmp_path / 'h.db'}") as h:
        h.write(Batch.build([tag], ts, np.zeros(3600, np.int32), value, quality=quality))
        report = check_range(plant, h, "mill-1", START, END, END)
    (found,) = [f for f in report.findings if f.tag == tag]
    assert found.check == "uncertain_quality"
    assert (found.start_ns, found.end_ns) == (START + 600 * S, START + 1199 * S)
    assert found.evidence["samples"] == 600
    assert found.evidence["share"] == pytest.approx(600 / 3600)
    assert "600 samples marked UNCERTAIN by its source over 10 minutes (16.7 %" in found.detail
    assert report.tags[tag]["2025-03-03"] < 100.0  # and the score counts them


def test_a_per_part_measurement_is_no_gap_while_the_machine_makes_no_parts(
    tmp_path: Path,
) -> None:
    plant = parse_plant(
        PLANT.replace(
            "LIMITS}",
            "low: 0, high: 80}\n"
            "              - {name: bore, unit: mm, signal: measurement}\n"
            "              - {name: speed, unit: rpm, low: 0, high: 9000}",
        )
    )
    # a bore every 15 s, as regular as a steady machine makes them, then a 20-minute stop
    # without parts; a 1 Hz speed sensor without a declared interval stops sending as well
    parts = np.concatenate((np.arange(0, 1800, 15), np.arange(3000, 3600, 15)))
    seconds = np.concatenate((np.arange(0, 1800), np.arange(3000, 3600)))
    with open_historian(f"sqlite:///{tmp_path / 'h.db'}") as h:
        for name, at in (("bore", parts), ("speed", seconds)):
            ts = START + at.astype(np.int64) * S
            value = 42.0 + 0.001 * np.sin(at / 7.0)
            h.write(Batch.build([f"{M}/{name}"], ts, np.zeros(len(ts), np.int32), value))
        report = check_range(plant, h, "mill-1", START, END, END)
    found = {(f.tag.rsplit("/", 1)[1], f.check) for f in report.findings}
    assert ("bore", "gap") not in found  # no part, no measurement: nothing missing
    assert ("speed", "gap") in found  # a sampled sensor learns its 1 s and misses 20 minutes
