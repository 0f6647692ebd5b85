"""A machine's state history: what it did over a range, why it stopped, when the product changed.

The same reading as the OEE's (``kpi.assets.Readings``): the states derived from the machine's
signals with the operators' reasons and corrections applied, and the product changes among its
parts. The dashboard's Stops page reads through ``read_machine`` and ``intervals`` too, so the
page and the API always say the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from andon.api.access import in_worker, require
from andon.api.context import ApiContext
from andon.api.routes.common import Ctx, FromQuery, ToQuery, span
from andon.api.schemas import ChangeoverOut, StateHistoryOut, StateIntervalOut
from andon.core.clock import NS_PER_S, iso
from andon.core.errors import InputError
from andon.core.machine_state import MachineState
from andon.historian import Historian
from andon.identity import Permission
from andon.kpi.assets import Readings, check_range, machines_under
from andon.plant import MachineRef, Plant
from andon.state import NO_DATA, Parts, StateHistory, changeovers

router = APIRouter(tags=["state"])

MAX_DAYS = 31
MAX_INTERVALS = 5000
"""Most intervals (and changeovers) one answer carries: a month of a machine that flickers
between running and micro-stops must not become a response of megabytes."""


@dataclass(frozen=True)
class MachineHistory:
    """One machine's states and parts over one range, as the KPIs read them."""

    ref: MachineRef
    history: StateHistory
    parts: Parts


def plant_of(ctx: ApiContext) -> Plant:
    if ctx.plant is None:
        raise InputError(
            "no plant model is loaded: machine states need plant.yaml (andon serve --plant)"
        )
    return ctx.plant


def one_machine(plant: Plant, asset: str) -> MachineRef:
    """The machine ``asset`` names (its path or its id); a line or an area is refused."""
    refs = machines_under(plant, asset)
    if len(refs) > 1:
        names = ", ".join(r.machine.id for r in refs[:5]) + (", …" if len(refs) > 5 else "")
        raise InputError(
            f"asset {asset!r}: {len(refs)} machines are below it ({names}); name one machine"
        )
    return refs[0]


def read_machine(
    plant: Plant, historian: Historian, asset: str, start_ns: int, end_ns: int
) -> MachineHistory:
    """The machine's history over ``[start_ns, end_ns)``: at most ``MAX_DAYS`` (every answer
    derives the whole range from the samples; KPIs over longer ranges use ``kpi``)."""
    check_range(start_ns, end_ns)
    if end_ns - start_ns > MAX_DAYS * 86_400 * NS_PER_S:
        raise InputError(
            f"the range is longer than {MAX_DAYS} days; ask for a month or less of states"
        )
    ref = one_machine(plant, asset)
    history, parts = Readings(plant, historian).of(ref, start_ns, end_ns)
    return MachineHistory(ref, history, parts)


def state_label(code: int) -> str:
    """A state code as the API writes it (``planned_stop``; ``no_data`` where andon knows
    nothing)."""
    return "no_data" if code == NO_DATA else MachineState(code).label


def intervals(history: StateHistory, index: Iterable[int]) -> list[StateIntervalOut]:
    """The intervals ``index`` picks out of ``history``, in the order given."""
    starts, ends = history.starts, history.ends()
    out = []
    for i in index:
        a, b = int(starts[i]), int(ends[i])
        out.append(
            StateIntervalOut(
                start=iso(a),
                end=iso(b),
                start_ns=a,
                end_ns=b,
                state=state_label(int(history.states[i])),
                reason=history.reasons[i],
                duration_s=(b - a) / NS_PER_S,
            )
        )
    return out


def changeover_rows(parts: Parts) -> list[ChangeoverOut]:
    """Every product change among the parts, in time order."""
    return [
        ChangeoverOut(ts=iso(ts), ts_ns=ts, from_product=before, to_product=after)
        for ts, before, after in changeovers(parts)
    ]


@router.get(
    "/state/history",
    response_model=StateHistoryOut,
    name="state.history",
    dependencies=[Depends(require(Permission.READ))],
)
async def state_history(
    request: Request,
    ctx: Ctx,
    asset: Annotated[str, Query(min_length=1, max_length=255)],
    start: FromQuery,
    end: ToQuery,
) -> StateHistoryOut:
    """A machine's state intervals over the range with their reasons (an operator's reason
    code wins over the signal's), and its changeovers. At most ``MAX_INTERVALS`` of each, the
    earliest first; ``truncated`` says more followed."""
    plant = plant_of(ctx)
    start_ns, end_ns = span(start, end)

    def compute() -> StateHistoryOut:
        found = read_machine(plant, ctx.historian, asset, start_ns, end_ns)
        count = len(found.history.starts)
        changes = changeover_rows(found.parts)
        return StateHistoryOut(
            asset=found.ref.path,
            start=iso(start_ns),
            end=iso(end_ns),
            limit=MAX_INTERVALS,
            intervals=intervals(found.history, range(min(count, MAX_INTERVALS))),
            truncated=count > MAX_INTERVALS,
            changeovers=changes[:MAX_INTERVALS],
            changeovers_truncated=len(changes) > MAX_INTERVALS,
        )

    return await in_worker(request, compute)
