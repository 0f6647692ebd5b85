"""What state derivation produces and the KPIs consume: a machine's states over time, and the
parts it made.

``StateHistory`` is a step function: interval *i* runs from ``starts[i]`` to ``starts[i+1]``
(the last to ``end_ns``) in state ``states[i]`` (a ``MachineState`` code, or ``NO_DATA`` where
andon knows nothing), with a reason (``""`` when none; an operator's reason code once given).
``Parts`` lists every part judged, in time order, with its product and result. Both are
columnar (numpy), so 100 machines × 30 days stay arrays, never per-second Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from andon.core.machine_state import MachineState

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]

NO_DATA = 0
"""The state code of time for which andon has no state signal (not a ``MachineState``)."""

GOOD, SCRAP, REWORK = 0, 1, 2
RESULTS = ("good", "scrap", "rework")


@dataclass(frozen=True, eq=False)
class StateHistory:
    """A machine's states over ``[start_ns, end_ns)`` as a step function (see the module)."""

    asset: str
    start_ns: int
    end_ns: int
    starts: I64
    states: U8
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.starts)
        if n == 0 or len(self.states) != n or len(self.reasons) != n:
            raise ValueError("StateHistory needs one state and one reason per interval, and one")
        if int(self.starts[0]) != self.start_ns or self.end_ns <= self.start_ns:
            raise ValueError("StateHistory must start at start_ns and end after it")
        if n > 1 and not bool(np.all(np.diff(self.starts) > 0)):
            raise ValueError("StateHistory interval starts must increase strictly")
        if int(self.starts[-1]) >= self.end_ns:
            raise ValueError("StateHistory's last interval must start before end_ns")

    @classmethod
    def of(
        cls,
        asset: str,
        start_ns: int,
        end_ns: int,
        steps: Sequence[tuple[int, MachineState | int, str]],
    ) -> StateHistory:
        """From ``(start, state, reason)`` steps (tests and hand-made cases)."""
        return cls(
            asset,
            start_ns,
            end_ns,
            np.array([s[0] for s in steps], dtype=np.int64),
            np.array([int(s[1]) for s in steps], dtype=np.uint8),
            tuple(s[2] for s in steps),
        )

    def ends(self) -> I64:
        return np.append(self.starts[1:], np.int64(self.end_ns))

    def clip(self, start_ns: int, end_ns: int) -> StateHistory:
        """The same history within ``[start_ns, end_ns)`` (which must overlap it)."""
        lo, hi = max(start_ns, self.start_ns), min(end_ns, self.end_ns)
        if lo >= hi:
            raise ValueError("clip range does not overlap the history")
        first = int(np.searchsorted(self.starts, lo, side="right")) - 1
        last = int(np.searchsorted(self.starts, hi, side="left"))
        starts = self.starts[first:last].copy()
        starts[0] = lo
        return StateHistory(
            self.asset,
            lo,
            hi,
            starts,
            self.states[first:last].copy(),
            self.reasons[first:last],
        )


@dataclass(frozen=True, eq=False)
class Parts:
    """Every part judged on a machine, in time order: when, which product (an index into
    ``products``), its result (``GOOD``/``SCRAP``/``REWORK``), and whether it was made in a
    start-up window (after a setup or a stop, as configured): start-up rejects are a loss of
    their own."""

    asset: str
    products: tuple[str, ...]
    ts: I64
    product: I32
    result: U8
    startup: B

    def __post_init__(self) -> None:
        n = len(self.ts)
        if not (len(self.product) == len(self.result) == len(self.startup) == n):
            raise ValueError("Parts columns differ in length")

    @classmethod
    def of(
        cls,
        asset: str,
        rows: Sequence[tuple[int, str, str] | tuple[int, str, str, bool]],
    ) -> Parts:
        """From ``(ts, product, result[, startup])`` rows (tests and hand-made cases)."""
        products: dict[str, int] = {}
        ts, prod, res, start = [], [], [], []
        for row in rows:
            ts.append(row[0])
            prod.append(products.setdefault(row[1], len(products)))
            res.append(RESULTS.index(row[2]))
            start.append(bool(row[3]) if len(row) > 3 else False)
        return cls(
            asset,
            tuple(products),
            np.array(ts, dtype=np.int64),
            np.array(prod, dtype=np.int32),
            np.array(res, dtype=np.uint8),
            np.array(start, dtype=np.bool_),
        )

    def __len__(self) -> int:
        return len(self.ts)

    def within(self, start_ns: int, end_ns: int) -> Parts:
        keep = (self.ts >= start_ns) & (self.ts < end_ns)
        return Parts(
            self.asset,
            self.products,
            self.ts[keep],
            self.product[keep],
            self.result[keep],
            self.startup[keep],
        )
