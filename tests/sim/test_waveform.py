"""Raw vibration: envelope analysis finds the outer-race defect frequency of a damaged bearing."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from andon.core.clock import NS_PER_S, parse_time
from andon.core.machine_state import MachineState
from andon.plant import example_plant, load_plant
from andon.plant.model import Bearing
from andon.sim import VirtualPlant
from andon.sim.waveform import bearing_waveform

RATE = 25_600.0
F64 = npt.NDArray[np.float64]


def envelope_spectrum(x: F64, rate: float, band: tuple[float, float]) -> tuple[F64, F64]:
    """Band-pass by FFT masking, |analytic signal| via the FFT, then the envelope's spectrum."""
    n = len(x)
    spec = np.fft.fft(x)
    freqs = np.fft.fftfreq(n, 1 / rate)
    analytic = np.where((freqs >= band[0]) & (freqs <= band[1]), 2 * spec, 0)  # one side only
    env = np.abs(np.fft.ifft(analytic))
    env -= env.mean()
    amp = np.abs(np.fft.rfft(env)) / n
    return np.fft.rfftfreq(n, 1 / rate), amp


def _peak(freqs: F64, amp: F64, lo: float, hi: float) -> tuple[float, float]:
    sel = (freqs >= lo) & (freqs <= hi)
    k = int(np.argmax(amp[sel]))
    return float(freqs[sel][k]), float(amp[sel][k])


def _at(freqs: F64, amp: F64, f: float) -> float:
    k = int(np.argmin(np.abs(freqs - f)))
    return float(amp[max(k - 2, 0) : k + 3].max())


def _near(freqs: F64, amp: F64, f: float, rel: float = 0.02) -> float:
    """Largest amplitude within ±rel of ``f`` (the spindle slows a little under load)."""
    return float(amp[np.abs(freqs - f) <= rel * f].max())


LATHE = Bearing(
    rolling_elements=26, element_diameter_mm=13.0, pitch_diameter_mm=127.5, contact_angle_deg=0
)


def _record(damage: float, seed: int = 1) -> F64:
    return bearing_waveform(
        rpm=2500,
        bearing=LATHE,
        damage=damage,
        seconds=1.0,
        rate_hz=RATE,
        resonance_hz=3200.0,
        rng=np.random.default_rng(seed),
    )


def test_envelope_peak_at_bpfo_for_a_damaged_bearing() -> None:
    bpfo = LATHE.bpfo(2500 / 60)
    freqs, amp = envelope_spectrum(_record(0.8), RATE, (1800, 4600))
    f, a = _peak(freqs, amp, 10, 1000)
    assert abs(f - bpfo) <= 2 * (freqs[1] - freqs[0])
    healthy_freqs, healthy = envelope_spectrum(_record(0.0), RATE, (1800, 4600))
    assert a > 10 * _at(healthy_freqs, healthy, bpfo)


def test_waveform_is_deterministic_and_sized() -> None:
    a, b = _record(0.5, seed=3), _record(0.5, seed=3)
    assert np.array_equal(a, b) and len(a) == 25_600
    assert not np.array_equal(a, _record(0.5, seed=4))


def test_virtual_plant_waveform_of_the_failing_mill() -> None:
    plant = load_plant(example_plant("job_shop"))
    start = parse_time("2026-03-02T06:00:00+01:00")
    _, events = VirtualPlant(plant, seed=0, start_ns=start).advance(start + 4 * 3600 * NS_PER_S)
    mill = plant.machine("mill-1")
    failed = next(
        e.ts
        for e in events
        if e.kind == "truth.failure"
        and e.asset == mill.path
        and e.payload["cause"] == "bearing failure"
    )
    changes = [e for e in events if e.kind == "state" and e.asset == mill.path and e.ts < failed]
    began = next(e.ts for e in reversed(changes) if e.payload["state"] == "running")
    # a fresh plant, advanced to ten seconds into the mill's last run before the failure
    vp = VirtualPlant(plant, seed=0, start_ns=start)
    vp.advance(began + 10 * NS_PER_S)
    assert vp.machines()[0].state == MachineState.RUNNING
    x = vp.waveform("mill-1")
    assert x.dtype == np.float64 and len(x) == 25_600
    assert mill.machine.bearing is not None
    bpfo = mill.machine.bearing.bpfo(9000 / 60)
    freqs, amp = envelope_spectrum(x, RATE, (1200, 6000))
    f, _ = _peak(freqs, amp, 100, 1500)
    assert abs(f - bpfo) < 0.02 * bpfo
    assert np.array_equal(x, vp.waveform("springfield/machining/cell-1/mill-1"))
    early = VirtualPlant(plant, seed=0, start_ns=start)
    early.advance(start + 5 * 60 * NS_PER_S)
    assert early.machines()[0].state == MachineState.RUNNING
    healthy_freqs, healthy = envelope_spectrum(early.waveform("mill-1"), RATE, (1200, 6000))
    late, early_peak = _near(freqs, amp, bpfo), _near(healthy_freqs, healthy, bpfo)
    assert late > 3 * early_peak  # the defect grows as the bearing nears failure
