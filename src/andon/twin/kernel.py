"""A small discrete-event kernel: a heap of timed events and generator processes, simpy-style.

Why our own and not SimPy: the twin and the virtual plant need only this much (timeouts,
processes that wait on events, and a FIFO store in ``twin.resources``), it must be typed and
deterministic to the last event, and a dependency for ~400 lines is not worth it. The shape
follows SimPy on purpose so anyone who knows it reads this at once:

- An :class:`Event` is pending, then *triggered* (it has a value and sits in the heap), then
  *processed* (its callbacks ran). ``yield event`` inside a process waits until it is processed.
- The heap orders by ``(time, priority, insertion counter)``: simultaneous events run in a fixed
  order (urgent ones first, then in the order they were scheduled), so a run is reproducible.
- A :class:`Process` wraps a generator and is itself an event, triggered when the generator
  returns; other processes can wait on it.
- Time is a float in seconds; what a second means (and the epoch) is the caller's business.

Example::

    >>> env = Environment()
    >>> def clock(env, log):
    ...     while True:
    ...         log.append(env.now)
    ...         yield env.timeout(1.5)
    >>> log: list[float] = []
    >>> _ = env.process(clock(env, log))
    >>> env.run(until=4)
    >>> log
    [0.0, 1.5, 3.0]
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Iterable
from typing import Any, cast

URGENT = 0
"""Priority of events that must run before ordinary ones at the same time (process start,
interrupts)."""
NORMAL = 1
INFINITY = float("inf")

ProcessGenerator = Generator["Event", Any, Any]
Callback = Callable[["Event"], None]


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


PENDING: Any = _Pending()


class Interrupt(Exception):
    """Thrown into a process by :meth:`Process.interrupt`; ``cause`` says why."""

    @property
    def cause(self) -> Any:
        return self.args[0] if self.args else None


class Event:
    """Something that will happen; processes ``yield`` it to wait for it."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.callbacks: list[Callback] | None = []
        self._value: Any = PENDING
        self._ok = True
        self._defused = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x}>"

    @property
    def triggered(self) -> bool:
        """True once the event has a value and is scheduled (it may not be processed yet)."""
        return self._value is not PENDING

    @property
    def processed(self) -> bool:
        """True once its callbacks have run."""
        return self.callbacks is None

    @property
    def ok(self) -> bool:
        return self._ok

    @property
    def value(self) -> Any:
        if self._value is PENDING:
            raise AttributeError(f"value of {self!r} is not yet available")
        return self._value

    def succeed(self, value: Any = None) -> Event:
        """Trigger the event now with ``value``."""
        if self._value is not PENDING:
            raise RuntimeError(f"{self!r} has already been triggered")
        self._ok = True
        self._value = value
        self.env.schedule(self)
        return self

    def fail(self, exception: BaseException) -> Event:
        """Trigger the event now as failed: waiting processes get ``exception`` thrown in."""
        if self._value is not PENDING:
            raise RuntimeError(f"{self!r} has already been triggered")
        self._ok = False
        self._value = exception
        self.env.schedule(self)
        return self

    def defuse(self) -> None:
        """Mark a failure as handled, so the environment does not re-raise it."""
        self._defused = True


class Timeout(Event):
    """An event that triggers itself ``delay`` seconds from now."""

    def __init__(self, env: Environment, delay: float, value: Any = None) -> None:
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        super().__init__(env)
        self._value = value
        env.schedule(self, NORMAL, delay)


class Process(Event):
    """Runs a generator; the process (as an event) triggers with the generator's return value."""

    def __init__(self, env: Environment, generator: ProcessGenerator) -> None:
        if not hasattr(generator, "throw"):
            raise TypeError(f"{generator!r} is not a generator")
        super().__init__(env)
        self._generator = generator
        start = Event(env)
        start._value = None
        start.callbacks = [self._resume]
        env.schedule(start, URGENT)
        self._target: Event = start

    @property
    def is_alive(self) -> bool:
        return self._value is PENDING

    @property
    def target(self) -> Event:
        """The event the process is waiting for."""
        return self._target

    def interrupt(self, cause: Any = None) -> None:
        """Throw :class:`Interrupt` into the process at the current time (before other events)."""
        if not self.is_alive:
            raise RuntimeError(f"{self!r} has terminated and cannot be interrupted")
        if self.env.active_process is self:
            raise RuntimeError("a process cannot interrupt itself")
        irq = Event(self.env)
        irq._ok = False
        irq._value = Interrupt(cause)
        irq._defused = True
        irq.callbacks = [self._interrupted]
        self.env.schedule(irq, URGENT)

    def _interrupted(self, irq: Event) -> None:
        if not self.is_alive:
            return
        if self._target.callbacks is not None and self._resume in self._target.callbacks:
            self._target.callbacks.remove(self._resume)
        self._resume(irq)

    def _resume(self, event: Event) -> None:
        env = self.env
        env.active_process = self
        while True:
            try:
                if event._ok:
                    nxt = cast(object, self._generator.send(event._value))
                else:
                    event._defused = True
                    nxt = cast(object, self._generator.throw(event._value))
            except StopIteration as stop:
                self._ok, self._value = True, stop.value
                env.schedule(self)
                break
            except BaseException as exc:
                self._ok, self._value = False, exc
                env.schedule(self)
                break
            if not isinstance(nxt, Event):
                event = Event(env)
                event._ok = False
                event._value = TypeError(f"process yielded {nxt!r}, which is not an Event")
                continue
            if nxt.callbacks is not None:
                nxt.callbacks.append(self._resume)
                self._target = nxt
                break
            event = nxt  # already processed: carry on at once with its value
        env.active_process = None


class Condition(Event):
    """Triggers when ``needed`` of ``events`` have succeeded (1: any of, all: all of).

    Its value maps each event processed by then to its value; a failure of any
    event fails the condition with the same exception.
    """

    def __init__(self, env: Environment, events: Iterable[Event], needed: int | None) -> None:
        super().__init__(env)
        self._events = list(events)
        self._needed = len(self._events) if needed is None else min(needed, len(self._events))
        self._count = 0
        if self._needed == 0:
            self.succeed({})
            return
        for ev in self._events:
            if ev.callbacks is None:
                self._check(ev)
            else:
                ev.callbacks.append(self._check)

    def _check(self, event: Event) -> None:
        if self._value is not PENDING:
            return
        if not event._ok:
            event._defused = True
            self.fail(event._value)
            return
        self._count += 1
        if self._count >= self._needed:
            self.succeed({e: e._value for e in self._events if e.processed and e._ok})


class Environment:
    """The clock and the heap; ``step`` processes one event, ``run`` many."""

    def __init__(self, initial_time: float = 0.0) -> None:
        self._now = float(initial_time)
        self._queue: list[tuple[float, int, int, Event]] = []
        self._counter = 0
        self.active_process: Process | None = None
        self.processed_events = 0

    @property
    def now(self) -> float:
        return self._now

    def schedule(self, event: Event, priority: int = NORMAL, delay: float = 0.0) -> None:
        """Put ``event`` in the heap ``delay`` seconds from now."""
        heapq.heappush(self._queue, (self._now + delay, priority, self._counter, event))
        self._counter += 1

    def peek(self) -> float:
        """Time of the next event, or infinity when none is scheduled."""
        return self._queue[0][0] if self._queue else INFINITY

    def step(self) -> None:
        """Process the next event: advance the clock and run its callbacks."""
        try:
            self._now, _, _, event = heapq.heappop(self._queue)
        except IndexError:
            raise EmptySchedule("no events left") from None
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks or ():
            callback(event)
        self.processed_events += 1
        if not event._ok and not event._defused:
            raise event._value

    def run(self, until: float | Event | None = None) -> Any:
        """Run until no events are left, until time ``until`` (events at exactly that time are
        left for later, and ``now`` becomes ``until``), or until the event ``until`` is
        processed (its value is returned)."""
        if until is None:
            while self._queue:
                self.step()
            return None
        if isinstance(until, Event):
            while not until.processed:
                if not self._queue:
                    raise RuntimeError(f"no events left but {until!r} was not triggered")
                self.step()
            if not until.ok:
                raise until.value
            return until.value
        at = float(until)
        if at < self._now:
            raise ValueError(f"until ({at}) must not lie before now ({self._now})")
        while self._queue and self._queue[0][0] < at:
            self.step()
        self._now = at
        return None

    # ------------------------------------------------------------ factories

    def event(self) -> Event:
        return Event(self)

    def timeout(self, delay: float, value: Any = None) -> Timeout:
        return Timeout(self, delay, value)

    def process(self, generator: ProcessGenerator) -> Process:
        return Process(self, generator)

    def any_of(self, events: Iterable[Event]) -> Condition:
        return Condition(self, events, 1)

    def all_of(self, events: Iterable[Event]) -> Condition:
        return Condition(self, events, None)


class EmptySchedule(Exception):
    """``step`` was called with no events scheduled."""
