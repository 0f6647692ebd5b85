"""Bearing and tool wear: the truths the virtual plant hides in its signals.

Bearing. Wear is the fraction of the bearing's life consumed, counted in running (spindle)
hours; the simulation starts at ``simulation.bearing_wear`` and the bearing fails when the
fraction reaches 1. Damage stays at zero for most of the life and only grows over its last
part (the P-F interval, here the last ``PF_SHARE`` of the life): with x the share of that
interval used, damage = x², so vibration and friction creep up first and then climb steeply,
the shape run-to-failure bearing data show. Health = 1 − damage.

Tool. Tool wear is parts made on the tool over its life in parts; it shifts the measured
characteristic by ``DRIFT_AT_END_OF_LIFE`` tolerances at the end of the tool's life (growing as
wear^1.5), so a worn tool makes more parts out of tolerance, i.e. more scrap.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

PF_SHARE = 0.005
"""Share of the bearing's rated life, before failure, in which damage is visible."""
VIBRATION_AT_FAILURE = 6.5
"""Velocity RMS (mm/s) a fully damaged bearing adds to a running machine (ISO 10816 zone D)."""
FRICTION_HEAT_AT_FAILURE = 35.0
"""Kelvin a fully damaged bearing adds to the running temperature."""
DRIFT_AT_END_OF_LIFE = 0.9
"""Mean shift of the measured characteristic, in tolerances, when the tool is fully worn."""
NOISE_IN_TOLERANCES = 0.25
"""Standard deviation of a measurement, in tolerances (a capable process, Cp ≈ 1.3)."""


def bearing_damage(wear: F64 | float) -> F64:
    """Damage 0…1 for the consumed life fraction ``wear`` (vectorised)."""
    x = np.clip((np.asarray(wear, dtype=np.float64) - (1 - PF_SHARE)) / PF_SHARE, 0.0, 1.0)
    return np.asarray(x * x, dtype=np.float64)


def bearing_health(wear: F64 | float) -> F64:
    """Health 1 (new) … 0 (failed)."""
    return 1.0 - bearing_damage(wear)


def vibration_added(damage: F64) -> F64:
    """Velocity RMS (mm/s) the damage adds while the spindle runs: slow at first, then steep."""
    return np.asarray(VIBRATION_AT_FAILURE * damage * damage, dtype=np.float64)


def measurement_drift(tool_wear: float, tolerance: float) -> float:
    """Mean shift of the measured characteristic caused by a tool worn to ``tool_wear`` (0…1)."""
    return float(DRIFT_AT_END_OF_LIFE * tolerance * max(tool_wear, 0.0) ** 1.5)
