"""Raw vibration on demand: what an accelerometer on the spindle housing would record.

The signal, in m/s², is the sum of
- shaft harmonics at 1×, 2×, 3× the shaft frequency (unbalance, misalignment);
- for a damaged bearing, an impact each time a rolling element passes the outer-race defect
  (period 1/BPFO, with a little random slip as real bearings have), each impact ringing the
  housing's structural resonance (a decaying sine, ~3–4 kHz); and weaker impacts at BPFI, whose
  amplitude swings with the shaft rotation because an inner-race defect turns in and out of
  the load zone (hence the shaft-frequency sidebands in the envelope spectrum);
- broadband noise.
Impact amplitudes grow with the bearing's damage, so envelope analysis (band-pass around the
resonance, magnitude of the analytic signal, spectrum) shows a peak at BPFO that grows as the
bearing nears failure.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from andon.plant.model import Bearing

F64 = npt.NDArray[np.float64]

OUTER_IMPACT = 40.0  # m/s², peak ringing amplitude of an outer-race impact at full damage
INNER_IMPACT = 15.0
DAMPING_RATIO = 0.04
NOISE = 0.5  # m/s² RMS
SLIP = 0.005  # random jitter of impact times, as a share of the impact period


def bearing_waveform(
    *,
    rpm: float,
    bearing: Bearing | None,
    damage: float,
    seconds: float,
    rate_hz: float,
    resonance_hz: float,
    rng: np.random.Generator,
) -> F64:
    """Acceleration in m/s² sampled at ``rate_hz`` for ``seconds`` (deterministic for ``rng``)."""
    n = round(seconds * rate_hz)
    if n <= 0:
        raise ValueError("seconds × rate_hz must give at least one sample")
    t = np.arange(n, dtype=np.float64) / rate_hz
    fr = rpm / 60.0
    x = np.zeros(n)
    if fr > 0:
        scale = min(fr / 25.0, 4.0)  # faster spindles shake harder (acceleration ∝ f²·x)
        for harmonic, amp, phase in ((1, 0.5, 0.0), (2, 0.2, 0.3), (3, 0.1, 1.1)):
            x += scale * amp * np.sin(2 * math.pi * harmonic * fr * t + phase)
    if fr > 0 and bearing is not None and damage > 0:
        impulses = np.zeros(n)
        _impacts(impulses, bearing.bpfo(fr), rate_hz, OUTER_IMPACT * damage, rng, fr=None)
        _impacts(impulses, bearing.bpfi(fr), rate_hz, INNER_IMPACT * damage, rng, fr=fr)
        tau = 1.0 / (DAMPING_RATIO * 2 * math.pi * resonance_hz)
        tk = np.arange(round(6 * tau * rate_hz), dtype=np.float64) / rate_hz
        ring = np.exp(-tk / tau) * np.sin(2 * math.pi * resonance_hz * tk)
        x += np.convolve(impulses, ring)[:n]
    return x + NOISE * rng.standard_normal(n)


def _impacts(
    out: F64,
    freq: float,
    rate_hz: float,
    amplitude: float,
    rng: np.random.Generator,
    *,
    fr: float | None,
) -> None:
    """Add impulses at ``freq`` (with slip) into ``out``; modulated by the shaft if ``fr``."""
    n = len(out)
    period = 1.0 / freq
    count = int(n / rate_hz * freq) + 1
    times = np.arange(count) * period + SLIP * period * rng.standard_normal(count)
    times = times[(times >= 0) & (times < n / rate_hz)]
    amp = np.full(len(times), amplitude)
    if fr is not None:
        amp *= 0.5 + 0.5 * np.cos(2 * math.pi * fr * times)
    np.add.at(out, np.minimum(np.round(times * rate_hz).astype(np.intp), n - 1), amp)
