"""Sensor physics: every signal of a machine, for a whole window of timestamps at once.

Each signal is a function of the machine's timeline (``sim.timeline``) at the sample
timestamps plus measurement noise; all of it is numpy over the window, so an hour of a 1 s tag
costs a handful of array operations, not 3600 Python calls. Noise is drawn from the tag's own
generator, exactly one standard normal per sample in time order, so producing a window in one
piece or in many gives the same values.

Units: rpm, mm/s (velocity RMS, 10–1000 Hz, ISO 10816), °C, A, kW, bar, % and counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from andon.core.machine_state import MachineState
from andon.sim.defaults import MachineParams
from andon.sim.degradation import FRICTION_HEAT_AT_FAILURE, bearing_damage, vibration_added
from andon.sim.timeline import TimelineView, step_values

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

AMBIENT_C = 22.0
THERMAL_TAU_S = 900.0
"""Time constant of the spindle housing's first-order thermal lag."""
VOLTAGE = 400.0
COUNTER_MODULO = 65536
IDLE_VIBRATION = 0.3  # mm/s: a powered machine with the spindle stopped (pumps, neighbours)
STOPPED_VIBRATION = 0.1
STANDBY_SHARE = 0.1  # share of idle power drawn while down or in a planned stop

_S = MachineState
POWERED = frozenset({_S.RUNNING, _S.IDLE, _S.STARVED, _S.BLOCKED, _S.SETUP, _S.MICRO_STOP})
COOLANT_ON = frozenset({_S.RUNNING, _S.IDLE, _S.STARVED, _S.BLOCKED, _S.MICRO_STOP})


def _table(members: frozenset[MachineState]) -> B:
    lut = np.zeros(max(MachineState) + 1, dtype=bool)
    lut[[int(s) for s in members]] = True
    return lut


_LOOKUP = {POWERED: _table(POWERED), COOLANT_ON: _table(COOLANT_ON)}


def _in(states: npt.NDArray[np.int8], members: frozenset[MachineState]) -> B:
    """Which samples are in one of ``members`` (a table lookup: cheap for small windows)."""
    return _LOOKUP[members][states]


def thermal_target(state: MachineState, load: float, damage: float) -> float:
    """Temperature (°C) the bearing housing heads for in ``state``."""
    if state == _S.RUNNING:
        return AMBIENT_C + 15.0 + 10.0 * load + FRICTION_HEAT_AT_FAILURE * damage
    if state in POWERED:
        return AMBIENT_C + 5.0
    return AMBIENT_C + 1.0


@dataclass(frozen=True, slots=True)
class Window:
    """One machine's timeline looked up at the sample timestamps ``ts``."""

    view: TimelineView
    params: MachineParams
    ts: I64
    idx: npt.NDArray[np.intp]
    state: npt.NDArray[np.int8]
    running: B

    @classmethod
    def at(cls, view: TimelineView, params: MachineParams, ts: I64) -> Window:
        idx = view.segment_at(ts)
        state = view.seg_state[idx]
        return cls(view, params, ts, idx, state, state == int(_S.RUNNING))

    def wear(self) -> F64:
        """Bearing life fraction consumed at each timestamp (grows only while running)."""
        if self.params.bearing_life is None:
            return np.zeros(len(self.ts))
        since = (self.ts - self.view.seg_t[self.idx]).astype(np.float64)
        return self.view.seg_wear[self.idx] + self.running * since / self.params.bearing_life_ns

    def damage(self) -> F64:
        return bearing_damage(self.wear())

    def load(self) -> F64:
        return self.view.seg_load[self.idx]


def state_code(w: Window, noise: F64) -> F64:
    return w.state.astype(np.float64)


def spindle_speed(w: Window, noise: F64) -> F64:
    rpm = w.params.nominal_rpm * (1.0 - 0.01 * w.load() + 0.002 * noise)
    return np.where(w.running, rpm, 0.0)


def vibration_rms(w: Window, noise: F64) -> F64:
    running = w.params.vibration_mm_s + vibration_added(w.damage())
    level = np.where(
        w.running, running, np.where(_in(w.state, POWERED), IDLE_VIBRATION, STOPPED_VIBRATION)
    )
    spread = np.where(w.running, 0.05, 0.1)
    return np.abs(level * (1.0 + spread * noise))


def bearing_temperature(w: Window, noise: F64) -> F64:
    v = w.view
    dt = (w.ts - v.seg_t[w.idx]).astype(np.float64) / 1e9
    target = v.seg_target[w.idx]
    return target + (v.seg_temp0[w.idx] - target) * np.exp(-dt / THERMAL_TAU_S) + 0.1 * noise


def _power(w: Window, noise: F64) -> F64:
    p = w.params
    running = (
        p.idle_power_kw
        + (p.rated_power_kw - p.idle_power_kw) * w.load()
        + 0.05 * p.rated_power_kw * w.damage()
    )
    level = np.where(
        w.running,
        running,
        np.where(_in(w.state, POWERED), p.idle_power_kw, STANDBY_SHARE * p.idle_power_kw),
    )
    spread = np.where(w.running, 0.03, 0.01)
    return np.maximum(level * (1.0 + spread * noise), 0.0)


def power(w: Window, noise: F64) -> F64:
    return _power(w, noise)


def motor_current(w: Window, noise: F64) -> F64:
    """Line current of a three-phase motor: P / (√3 · 400 V · power factor)."""
    pf = np.where(w.running, 0.85, 0.5)
    return _power(w, noise) * 1000.0 / (math.sqrt(3) * VOLTAGE * pf)


def coolant_pressure(w: Window, noise: F64) -> F64:
    on = _in(w.state, COOLANT_ON)
    return np.where(on, w.params.coolant_bar * (1.0 + 0.02 * noise), 0.0)


def tool_wear(w: Window, noise: F64) -> F64:
    v = w.view
    if not len(v.tool_t):
        return np.zeros(len(w.ts))
    return step_values(v.tool_t, v.tool_v, w.ts)


def part_counter(w: Window, noise: F64) -> F64:
    v = w.view
    return np.mod(step_values(v.count_t, v.count_v, w.ts), COUNTER_MODULO)


Signal = Callable[[Window, F64], F64]

SIGNALS: dict[str, tuple[Signal, bool]] = {
    "state_code": (state_code, False),
    "spindle_speed": (spindle_speed, True),
    "vibration_rms": (vibration_rms, True),
    "bearing_temperature": (bearing_temperature, True),
    "motor_current": (motor_current, True),
    "power": (power, True),
    "coolant_pressure": (coolant_pressure, True),
    "tool_wear": (tool_wear, False),
    "part_counter": (part_counter, False),
}
"""Sampled signals: name → (function, whether it takes measurement noise). ``measurement`` is
produced per part, not sampled (see ``sim.plant``)."""
EVENT_SIGNALS = frozenset({"measurement"})
