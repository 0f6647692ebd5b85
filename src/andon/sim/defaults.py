"""Every number a virtual machine needs, resolved: plant.yaml's ``simulation`` first, then
defaults that suit the machine's ``type``.

Why a table per type: a plant.yaml written by hand names a mill or a press and leaves the rest
out; the virtual plant must still look like that kind of machine (a mill's spindle turns at
thousands of rpm and draws tens of kW, a screwdriver at hundreds of rpm and a few kW). Types
not in the table fall back to a small generic machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from andon.core.clock import NS_PER_S
from andon.plant.model import Machine

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class TypeDefaults:
    """What a kind of machine is like when plant.yaml does not say."""

    mtbf: float  # s of running time between random breakdowns
    mttr: float  # s, mean repair time
    nominal_rpm: float
    rated_power_kw: float
    idle_power_kw: float
    vibration_mm_s: float  # velocity RMS running with a healthy bearing (ISO 10816 zone A/B)
    coolant_bar: float  # coolant (or hydraulic/pneumatic) pressure while powered
    resonance_hz: float  # structural resonance the bearing impacts ring at
    cutting_load: float  # mean share of (rated - idle) power drawn while running
    bearing_life: float  # s of running, rated life of the spindle bearing


TYPE_DEFAULTS: dict[str, TypeDefaults] = {
    "mill": TypeDefaults(8 * HOUR, 1800, 8000, 20, 3.5, 1.4, 20, 3600, 0.65, 20000 * HOUR),
    "lathe": TypeDefaults(10 * HOUR, 1800, 2500, 25, 4, 1.2, 15, 3200, 0.6, 25000 * HOUR),
    "grinder": TypeDefaults(12 * HOUR, 1200, 6000, 11, 2, 1.0, 10, 3800, 0.55, 20000 * HOUR),
    "press": TypeDefaults(6 * HOUR, 900, 1450, 15, 2.5, 1.8, 6, 3000, 0.7, 30000 * HOUR),
    "screwdriver": TypeDefaults(9 * HOUR, 600, 600, 3, 0.6, 0.8, 6, 3500, 0.5, 30000 * HOUR),
    "dispenser": TypeDefaults(7 * HOUR, 900, 300, 2, 0.8, 0.6, 4, 3500, 0.4, 30000 * HOUR),
    "test-bench": TypeDefaults(12 * HOUR, 1200, 2900, 5.5, 1.0, 1.6, 6, 3400, 0.6, 30000 * HOUR),
    "packer": TypeDefaults(15 * HOUR, 600, 1400, 4, 0.7, 1.2, 6, 3000, 0.5, 40000 * HOUR),
}
GENERIC = TypeDefaults(8 * HOUR, 1200, 1500, 5, 1.0, 1.2, 6, 3500, 0.5, 30000 * HOUR)


@dataclass(frozen=True, slots=True)
class MachineParams:
    """One machine's simulation numbers, every one resolved (seconds, kW, rpm, fractions)."""

    mtbf: float
    mttr: float
    cycle_time_cv: float
    speed_loss: float
    scrap_rate: float
    rework_rate: float
    micro_stops_per_hour: float
    micro_stop_duration: float
    nominal_rpm: float
    rated_power_kw: float
    idle_power_kw: float
    vibration_mm_s: float
    coolant_bar: float
    resonance_hz: float
    cutting_load: float
    setup_time: float
    bearing_life: float | None  # None: the machine has no bearing that wears
    bearing_wear: float
    tool_life_parts: int | None
    tool_change_time: float
    tool_wear: float
    measurement_nominal: float | None
    measurement_tolerance: float | None

    @property
    def bearing_life_ns(self) -> float:
        return (self.bearing_life or 0.0) * NS_PER_S


def resolve(machine: Machine) -> MachineParams:
    """The machine's simulation settings with every gap filled from its type's defaults."""
    sim = machine.simulation
    d = TYPE_DEFAULTS.get(machine.type, GENERIC)
    rated = sim.rated_power_kw if sim.rated_power_kw is not None else d.rated_power_kw
    idle = sim.idle_power_kw if sim.idle_power_kw is not None else min(d.idle_power_kw, rated)
    bearing_life = None
    if machine.bearing is not None:
        bearing_life = sim.bearing_life if sim.bearing_life is not None else d.bearing_life
    meas = sim.measurement
    return MachineParams(
        mtbf=sim.mtbf if sim.mtbf is not None else d.mtbf,
        mttr=sim.mttr if sim.mttr is not None else d.mttr,
        cycle_time_cv=sim.cycle_time_cv,
        speed_loss=sim.speed_loss,
        scrap_rate=sim.scrap_rate,
        rework_rate=sim.rework_rate,
        micro_stops_per_hour=sim.micro_stops_per_hour,
        micro_stop_duration=sim.micro_stop_duration,
        nominal_rpm=sim.nominal_rpm if sim.nominal_rpm is not None else d.nominal_rpm,
        rated_power_kw=rated,
        idle_power_kw=idle,
        vibration_mm_s=d.vibration_mm_s,
        coolant_bar=d.coolant_bar,
        resonance_hz=d.resonance_hz,
        cutting_load=d.cutting_load,
        setup_time=machine.setup_time,
        bearing_life=bearing_life,
        bearing_wear=sim.bearing_wear,
        tool_life_parts=sim.tool_life_parts,
        tool_change_time=sim.tool_change_time,
        tool_wear=sim.tool_wear,
        measurement_nominal=meas.nominal if meas else None,
        measurement_tolerance=meas.tolerance if meas else None,
    )
