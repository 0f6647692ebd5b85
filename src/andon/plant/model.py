"""The plant model: what ``plant.yaml`` declares, validated with pydantic.

The hierarchy follows ISA-95 (enterprise → site → area → line → machine → tag), so every tag's
path in the unified namespace follows from where it is declared. Everything a later room needs
to know about the plant lives here: ideal cycle times per product (OEE), tags with unit and
source (historian, connectors), the calendar (planned time), products and their routings, and,
for the virtual plant only, each machine's ``simulation`` behaviour.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from andon.core.clock import parse_duration
from andon.core.errors import InputError
from andon.core.tagpath import join
from andon.plant.fields import (
    WEEKDAYS,
    ClockTime,
    Duration,
    Fraction,
    Id,
    Model,
    PositiveDuration,
    Unit,
    Weekday,
    _timezone,
)
from andon.plant.production import Carbon, Costs, CounterConfig, StateConfig
from andon.plant.sources import Source, error_at

# ---------------------------------------------------------------- tags

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
"""A number and, optionally, its unit: ``60``, ``-5.5 degC``, ``1e4 rpm``."""


class Tag(Model):
    """One signal of a machine.

    ``interval`` is the sampling interval (omit it for signals produced per event, such as a
    measurement per part). ``source`` names where the value comes from (``sim`` for the virtual
    plant; connectors add theirs). ``signal`` says which physics the virtual plant generates;
    ``measurement`` also tells the data-health checks that the tag is sent once per part, so
    its silence while no part is made is no gap. ``low``/``high`` are its physical limits, in
    its unit (``60`` or ``"60 kW"``); ``constant: true`` marks a value that is meant not to
    change (a setpoint), which is then never "stuck".
    """

    name: Id
    unit: Unit
    description: str = ""
    interval: PositiveDuration | None = None
    source: str = "sim"
    signal: str | None = None
    low: float | None = None
    high: float | None = None
    constant: bool = False

    @field_validator("low", "high", mode="before")
    @classmethod
    def _limit_in_the_tags_unit(cls, value: Any, info: ValidationInfo) -> Any:
        """A limit is a number in the tag's unit, or a number with that unit ("60 kW"); a
        limit in another unit is refused rather than compared with values it does not
        describe."""
        if not isinstance(value, str):
            return value
        m = _QUANTITY.match(value)
        unit = info.data.get("unit")
        given = m.group(2).strip() if m is not None else ""
        # a unit starts like one ("kW", "%", "°C"), or is the tag's own ("1/min")
        named = not given or given == unit or given[0].isalpha() or given[0] in "%°µΩ"
        if m is None or not named:
            raise ValueError(
                f"{value!r} is not a limit: expected a number in the tag's unit, e.g. 60 or "
                '"60 kW"'
            )
        if given and unit is not None and given != unit:
            raise ValueError(
                f"the limit {value!r} is in {given} but the tag's unit is {unit}: give the "
                f"limit in {unit} (andon does not convert units)"
            )
        return float(m.group(1))


# ---------------------------------------------------------------- machines


class Bearing(Model):
    """Rolling-element bearing geometry; it sets the defect frequencies BPFO, BPFI, BSF, FTF."""

    designation: str = ""
    rolling_elements: Annotated[int, Field(ge=3)]
    element_diameter_mm: PositiveDuration
    pitch_diameter_mm: PositiveDuration
    contact_angle_deg: Annotated[float, Field(ge=0, lt=90)] = 0.0

    def _ratio(self) -> float:
        return (
            self.element_diameter_mm
            / self.pitch_diameter_mm
            * math.cos(math.radians(self.contact_angle_deg))
        )

    def bpfo(self, shaft_hz: float) -> float:
        """Ball pass frequency, outer race: (n/2)·fr·(1 − r)."""
        return self.rolling_elements / 2 * shaft_hz * (1 - self._ratio())

    def bpfi(self, shaft_hz: float) -> float:
        """Ball pass frequency, inner race: (n/2)·fr·(1 + r)."""
        return self.rolling_elements / 2 * shaft_hz * (1 + self._ratio())

    def bsf(self, shaft_hz: float) -> float:
        """Ball spin frequency: (D/2d)·fr·(1 − r²)."""
        r = self._ratio()
        return self.pitch_diameter_mm / (2 * self.element_diameter_mm) * shaft_hz * (1 - r * r)

    def ftf(self, shaft_hz: float) -> float:
        """Fundamental train (cage) frequency: (fr/2)·(1 − r)."""
        return shaft_hz / 2 * (1 - self._ratio())


class Measurement(Model):
    """A quality characteristic measured on every part (e.g. a bore diameter) and its tolerance."""

    tag: Id
    nominal: float
    tolerance: Annotated[float, Field(gt=0)]


class Simulation(Model):
    """How the virtual plant makes this machine behave; ignored by everything else.

    Omitted fields take defaults that suit the machine's ``type``.
    """

    mtbf: PositiveDuration | None = None
    mttr: PositiveDuration | None = None
    cycle_time_cv: Annotated[float, Field(ge=0, le=1)] = 0.05
    speed_loss: Annotated[float, Field(ge=0, lt=1)] = 0.05
    scrap_rate: Fraction = 0.01
    rework_rate: Fraction = 0.01
    micro_stops_per_hour: Annotated[float, Field(ge=0)] = 2.0
    micro_stop_duration: PositiveDuration = 60.0
    nominal_rpm: Annotated[float, Field(ge=0)] | None = None
    rated_power_kw: Annotated[float, Field(gt=0)] | None = None
    idle_power_kw: Annotated[float, Field(ge=0)] | None = None
    bearing_life: PositiveDuration | None = None
    bearing_wear: Fraction = 0.0
    tool_life_parts: Annotated[int, Field(gt=0)] | None = None
    tool_change_time: PositiveDuration = 300.0
    tool_wear: Fraction = 0.0
    measurement: Measurement | None = None


class Machine(Model):
    """A work unit. ``ideal_cycle_time`` is the fastest possible time for one part (OEE's
    performance reference); ``cycle_times`` overrides it per product."""

    id: Id
    type: Id
    name: str = ""
    ideal_cycle_time: PositiveDuration
    cycle_times: dict[str, PositiveDuration] = Field(default_factory=dict)
    setup_time: Duration = 0.0
    bearing: Bearing | None = None
    state: StateConfig | None = None
    """How the machine's state is derived (default: its ``signal: state_code`` tag)."""
    counter: CounterConfig | None = None
    """Its part counter (default: its ``signal: part_counter`` tag)."""
    tags: list[Tag] = Field(default_factory=list)
    simulation: Simulation = Field(default_factory=Simulation)

    def ideal_cycle_time_for(self, product: str | None) -> float:
        """Ideal cycle time of ``product`` on this machine, in seconds."""
        if product is not None and product in self.cycle_times:
            return self.cycle_times[product]
        return self.ideal_cycle_time

    def tag_references(self) -> list[tuple[tuple[str | int, ...], str]]:
        """The tags its ``state:`` and ``counter:`` sections name, each with where it is named
        (keys below this machine): each must be one of its ``tags:``."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        if self.state is not None:
            found += [(("state", *loc), tag) for loc, tag in self.state.tag_references()]
        if self.counter is not None:
            found.append((("counter", "tag"), self.counter.tag))
        return found


class Buffer(Model):
    """A buffer between two stations of a flow line, holding at most ``capacity`` parts."""

    upstream: Id
    downstream: Id
    capacity: Annotated[int, Field(ge=1)]


class LineSimulation(Model):
    """How work arrives at a line in the virtual plant."""

    order_interarrival: PositiveDuration | None = None
    lot_size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (10, 30)


class Line(Model):
    """A work centre. A ``flow`` line passes every part through its machines in order, via its
    buffers; in a ``job_shop`` each product follows its own routing."""

    id: Id
    name: str = ""
    type: Literal["flow", "job_shop"]
    machines: Annotated[list[Machine], Field(min_length=1)]
    buffers: list[Buffer] = Field(default_factory=list)
    oee: Literal["bottleneck", "weighted"] = "bottleneck"
    """A line's OEE: its bottleneck machine's (``bottleneck:``, else the one with the longest
    ideal cycle time), or the machines' OEE weighted by planned production time. Either way
    every machine's problems stay in the line's, named by machine."""
    bottleneck: Id | None = None
    """The id of the machine of this line that paces it, when the longest ideal cycle time
    does not say it (a slow machine with a parallel twin, a manual station); only used with
    ``oee: bottleneck``."""
    simulation: LineSimulation = Field(default_factory=LineSimulation)


class Area(Model):
    id: Id
    name: str = ""
    lines: Annotated[list[Line], Field(min_length=1)]


# ---------------------------------------------------------------- calendar


class Break(Model):
    """A planned stop inside a shift, starting at a local time."""

    start: ClockTime
    duration: PositiveDuration
    name: str = "break"


class Shift(Model):
    """A shift in local time; an ``end`` at or before ``start`` crosses midnight."""

    name: Id
    start: ClockTime
    end: ClockTime
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    breaks: list[Break] = Field(default_factory=list)


class Tariff(Model):
    """An energy price window in local time (time of use)."""

    name: str
    start: ClockTime
    end: ClockTime
    price_per_kwh: Annotated[float, Field(ge=0)]
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))


class Calendar(Model):
    """Shifts, holidays and tariffs in one named time zone (IANA, e.g. ``Europe/Berlin``).

    No shifts means the plant is planned to run around the clock.
    """

    timezone: Annotated[str, AfterValidator(_timezone)]
    shifts: list[Shift] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    tariffs: list[Tariff] = Field(default_factory=list)
    currency: str = "EUR"
    grid_kg_co2e_per_kwh: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _shifts_do_not_overlap(self) -> Calendar:
        """Two shifts at once would count the same planned minute twice in every KPI."""
        week = 7 * 1440
        spans: list[tuple[int, int, str]] = []
        for shift in self.shifts:
            a = shift.start.hour * 60 + shift.start.minute
            b = shift.end.hour * 60 + shift.end.minute
            length = (b - a) % 1440 or 1440
            for day in shift.days:
                at = WEEKDAYS.index(day) * 1440 + a
                label = f"{shift.name} ({day} {shift.start:%H:%M}-{shift.end:%H:%M})"
                # a shift past the week's end (Sunday night) wraps to its start
                spans.append((at, min(at + length, week), label))
                if at + length > week:
                    spans.append((0, at + length - week, label))
        spans.sort()
        reach, last = -1, ""  # the latest end so far, and whose
        for start, end, label in spans:
            if start < reach:
                raise ValueError(
                    f"shifts {last} and {label} overlap: a planned minute would count twice; "
                    "end one where the next begins"
                )
            if end > reach:
                reach, last = end, label
        return self


# ---------------------------------------------------------------- data faults (virtual plant)

FaultKind = Literal["dropout", "stuck", "spike", "drift", "clock_skew", "counter_glitch"]
_WINDOWED = frozenset({"dropout", "stuck", "drift", "clock_skew"})
"""Fault kinds that last a while and need ``duration`` (or ``until``)."""
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "dropout": frozenset(),
    "stuck": frozenset(),
    "spike": frozenset({"size", "count"}),
    "drift": frozenset({"rate"}),
    "clock_skew": frozenset({"offset"}),
    "counter_glitch": frozenset({"drop"}),
}
_SIGNED = re.compile(r"^\s*([+-])?\s*(.+)$")
_SPAN_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|span)\s*$")


def _fault_time(v: object) -> object:
    """``2h`` (after the simulation's start) or an ISO 8601 time with its offset."""
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError(f"time {v.isoformat()} has no UTC offset; write e.g. ...T08:00:00Z")
        return v
    if isinstance(v, str):
        try:
            return parse_duration(v)
        except InputError:
            pass
        try:
            t = datetime.fromisoformat(v.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"expected an offset from the simulation's start (e.g. 2h, 90min) or an ISO "
                f"time with its UTC offset (e.g. 2024-03-04T08:00:00Z), got {v!r}"
            ) from None
        return _fault_time(t)
    if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
        raise ValueError("must not be negative (an offset from the simulation's start)")
    return v


def _signed_duration(v: object) -> object:
    """``+10min`` or ``-30s``: a clock running ahead (+) or behind (-)."""
    if isinstance(v, str):
        m = _SIGNED.match(v)
        sign = -1.0 if m and m.group(1) == "-" else 1.0
        try:
            return sign * parse_duration(m.group(2) if m else v)
        except InputError:
            raise ValueError(
                f"expected a signed duration such as +10min or -30s, got {v!r}"
            ) from None
    return v


def _spike_size(v: object) -> object:
    """A number in the tag's unit, or ``20%`` / ``0.2 span`` of its declared span."""
    if isinstance(v, str):
        m = _SPAN_SIZE.match(v.lower())
        if m is None:
            try:
                return float(v)
            except ValueError:
                raise ValueError(
                    f"expected a size in the tag's unit (e.g. 5) or a share of its span "
                    f"(e.g. 20% or 0.2 span), got {v!r}"
                ) from None
        return f"{float(m.group(1)) / (100.0 if m.group(2) == '%' else 1.0)!r} span"
    return v


FaultTime = Annotated[float | datetime, BeforeValidator(_fault_time)]
SignedDuration = Annotated[float, BeforeValidator(_signed_duration), Field(allow_inf_nan=False)]
SpikeSize = Annotated[float | str, BeforeValidator(_spike_size)]


class DataFault(Model):
    """A data fault the virtual plant injects into one tag's samples, recorded as ground truth
    (a ``truth.data_fault`` event), so andon's data-health checks can be scored against it.

    ``at`` is an offset from the simulation's start (``2h``) or an ISO time; the fault lasts
    ``duration`` (or until ``until``). Per kind: ``spike`` replaces ``count`` isolated samples
    by value ± ``size`` (in the tag's unit, or ``20%`` of its declared span), spread over the
    duration; ``drift`` adds ``rate`` (tag unit per hour) × time since ``at``; ``clock_skew``
    shifts time stamps by ``offset`` (``+10min``); ``counter_glitch`` makes the counter read
    ``drop`` parts less (for ``duration``, or one reading).
    """

    kind: FaultKind
    machine: str
    """The machine's id (or its asset path, when two lines use the same id)."""
    tag: Id
    at: FaultTime
    duration: PositiveDuration | None = None
    until: FaultTime | None = None
    size: SpikeSize | None = None
    count: Annotated[int, Field(ge=1, le=10_000)] = 1
    rate: Annotated[float, Field(allow_inf_nan=False)] | None = None
    offset: SignedDuration | None = None
    drop: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> DataFault:
        """Each kind's own fields, and a window that ends after it starts."""
        given = {f for f in ("size", "rate", "offset", "drop") if getattr(self, f) is not None}
        if self.count != 1:
            given.add("count")
        for name in sorted(given - _KIND_FIELDS[self.kind]):
            raise error_at(
                (name,),
                f"{name!r} does not apply to a {self.kind} fault "
                f"(it takes: {', '.join(sorted(_KIND_FIELDS[self.kind])) or 'no extra field'})",
                getattr(self, name),
                "DataFault",
            )
        needs = {"spike": "size", "drift": "rate", "clock_skew": "offset", "counter_glitch": "drop"}
        if self.kind in needs and getattr(self, needs[self.kind]) is None:
            raise error_at(
                ("kind",), f"a {self.kind} fault needs {needs[self.kind]!r}", self.kind, "DataFault"
            )
        if self.duration is not None and self.until is not None:
            raise error_at(
                ("until",), "give either duration or until, not both", self.until, "DataFault"
            )
        if self.kind in _WINDOWED and self.duration is None and self.until is None:
            raise error_at(
                ("kind",),
                f"a {self.kind} fault lasts a while: give its duration (e.g. 30min)",
                self.kind,
                "DataFault",
            )
        if self.kind == "spike" and self.count > 1 and self.duration is None and self.until is None:
            raise error_at(
                ("count",),
                "several spikes are spread over a duration: give one",
                self.count,
                "DataFault",
            )
        same = isinstance(self.until, datetime) == isinstance(self.at, datetime)
        if self.until is not None and same and self.until <= self.at:  # type: ignore[operator]
            raise error_at(
                ("until",),
                "the fault ends before it starts (until is not after at)",
                str(self.until),
                "DataFault",
            )
        if self.kind == "clock_skew" and self.offset == 0:
            raise error_at(("offset",), "an offset of 0 is no clock skew", 0, "DataFault")
        if (isinstance(self.size, float) and self.size <= 0) or self.span_fraction() == 0:
            raise error_at(
                ("size",),
                "a spike's size must be greater than zero (it goes up, or down when up would "
                "leave the tag's limits)",
                self.size,
                "DataFault",
            )
        return self

    def span_fraction(self) -> float | None:
        """A spike's size as a share of the tag's span (``20%``), or None (in the tag's unit)."""
        if isinstance(self.size, str):
            return float(self.size.split()[0])
        return None


class PlantSimulation(Model):
    """Plant-wide settings of the virtual plant; ignored by everything else."""

    faults: list[DataFault] = Field(default_factory=list)
    """Data faults to inject, each recorded as ground truth (``truth.data_fault``)."""


# ---------------------------------------------------------------- products and plant


class Product(Model):
    """Something the plant makes; ``routing`` lists the machines a part visits (job shops)."""

    id: Id
    name: str = ""
    routing: list[Id] = Field(default_factory=list)
    mix: Annotated[float, Field(gt=0)] = 1.0


class Plant(Model):
    """A whole ``plant.yaml``."""

    enterprise: Id | None = None
    site: Id
    name: str = ""
    strict: bool = False
    calendar: Calendar
    products: list[Product] = Field(default_factory=list)
    areas: Annotated[list[Area], Field(min_length=1)]
    sources: list[Source] = Field(default_factory=list)
    """Connections to the shop floor (MQTT, Sparkplug B, OPC UA, Modbus TCP)."""
    costs: Costs = Field(default_factory=Costs)
    """What an hour of downtime, a scrapped part and a kWh cost (ROI estimates)."""
    carbon: Carbon | None = None
    """The grid's emission factor (kg CO2e per kWh, scope 2, location based)."""
    simulation: PlantSimulation = Field(default_factory=PlantSimulation)
    """For the virtual plant only: the data faults it injects."""

    @field_validator("sources", mode="wrap")
    @classmethod
    def _sources(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[Source]:
        """Each source's problems at their own line (pydantic puts the source's ``type`` into
        an error's location, which is no key of the document), and unique source names."""
        try:
            sources: list[Source] = handler(value)
        except ValidationError as exc:
            raise ValidationError.from_exception_data(
                exc.title, [_without_type(err) for err in exc.errors()]
            ) from None
        first: dict[str, int] = {}
        for i, source in enumerate(sources):
            if source.name in first:
                raise error_at(
                    (i, "name"),
                    f"duplicate source name {source.name!r} "
                    f"(first at sources[{first[source.name]}])",
                    source.name,
                    "sources",
                )
            first[source.name] = i
        return sources

    @property
    def root(self) -> str:
        """Path prefix of every asset in this plant: ``[enterprise/]site``."""
        return join(self.enterprise, self.site) if self.enterprise else self.site

    def machines(self) -> list[MachineRef]:
        """Every machine with its place in the hierarchy, in declaration order."""
        return [
            MachineRef(area=a, line=ln, machine=m, path=join(self.root, a.id, ln.id, m.id))
            for a in self.areas
            for ln in a.lines
            for m in ln.machines
        ]

    def machine(self, ident: str) -> MachineRef:
        """A machine by id or by full asset path."""
        for ref in self.machines():
            if ident in (ref.machine.id, ref.path):
                return ref
        raise KeyError(ident)

    def tag_paths(self) -> list[str]:
        """Every configured tag path, in declaration order."""
        return [join(ref.path, t.name) for ref in self.machines() for t in ref.machine.tags]

    def product(self, ident: str) -> Product:
        for p in self.products:
            if p.id == ident:
                return p
        raise KeyError(ident)


_SOURCE_MODELS: dict[str, type[BaseModel]] = {
    str(get_args(m.model_fields["type"].annotation)[0]): m for m in get_args(get_args(Source)[0])
}


def _without_type(err: Any) -> InitErrorDetails:
    """A source's error with the union's tag (``mqtt``...) taken out of its location; an unknown
    field of the source itself gets the same "did you mean" as the rest of plant.yaml."""
    loc = tuple(err["loc"])
    kind, message = str(err["type"]), str(err["msg"])
    if len(loc) > 1 and isinstance(loc[0], int) and loc[1] in _SOURCE_MODELS:
        model = _SOURCE_MODELS[str(loc[1])]
        loc = (loc[0], *loc[2:])
        if kind == "extra_forbidden" and len(loc) == 2:
            close = difflib.get_close_matches(str(loc[1]), list(model.model_fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            kind, message = (
                "value_error",
                (f"unknown field{hint} (allowed: {', '.join(model.model_fields)})"),
            )
    return InitErrorDetails(
        type=PydanticCustomError(kind, message), loc=loc, input=err.get("input")
    )


class MachineRef(BaseModel):
    """A machine together with its area, line and asset path."""

    model_config = ConfigDict(frozen=True)

    area: Area
    line: Line
    machine: Machine
    path: str

    def tag_path(self, tag: str) -> str:
        return join(self.path, tag)
