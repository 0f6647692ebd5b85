import math

import pytest

from andon.plant import Bearing, example_plant, load_plant


def test_bearing_defect_frequencies_follow_the_formulas():
    # 6205: n=9, d=7.94 mm, D=39.04 mm, 0 deg; fr = 29.95 Hz (1797 rpm) -> BPFO 107.4, BPFI 162.2
    b = Bearing(rolling_elements=9, element_diameter_mm=7.94, pitch_diameter_mm=39.04)
    fr = 1797 / 60
    assert b.bpfo(fr) == pytest.approx(107.36, abs=0.05)
    assert b.bpfi(fr) == pytest.approx(162.19, abs=0.05)
    assert b.ftf(fr) == pytest.approx(11.93, abs=0.05)
    r = 7.94 / 39.04
    assert b.bsf(fr) == pytest.approx(39.04 / (2 * 7.94) * fr * (1 - r * r))
    assert b.bpfo(fr) + b.bpfi(fr) == pytest.approx(9 * fr)


def test_contact_angle_lowers_the_ratio():
    flat = Bearing(rolling_elements=20, element_diameter_mm=11.1, pitch_diameter_mm=92.5)
    angled = Bearing(
        rolling_elements=20, element_diameter_mm=11.1, pitch_diameter_mm=92.5, contact_angle_deg=15
    )
    assert angled.bpfo(100) > flat.bpfo(100)
    assert math.isclose(angled.bpfo(100) + angled.bpfi(100), 20 * 100)


def test_ideal_cycle_time_per_product():
    grinder = load_plant(example_plant("job_shop")).machine("grinder-1").machine
    assert grinder.ideal_cycle_time_for("bracket") == 40.0
    assert grinder.ideal_cycle_time_for("shaft") == 60.0
    assert grinder.ideal_cycle_time_for("unknown") == 60.0
    assert grinder.ideal_cycle_time_for(None) == 60.0


def test_enterprise_prefixes_every_path():
    line = load_plant(example_plant("assembly_line"))
    assert line.tag_paths()[0] == "acme/riverside/assembly/line-1/op10/state_code"
    assert line.machine("acme/riverside/assembly/line-1/op20").machine.id == "op20"
    with pytest.raises(KeyError):
        line.machine("op99")
