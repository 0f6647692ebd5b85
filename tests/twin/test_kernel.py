"""The discrete-event kernel: ordering, timeouts, processes, conditions, stores, interrupts."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

import andon.twin
from andon.twin import kernel, resources
from andon.twin.kernel import (
    EmptySchedule,
    Environment,
    Event,
    Interrupt,
    ProcessGenerator,
)
from andon.twin.resources import Store


def test_public_names() -> None:
    modules = {"kernel", "resources"}
    exported = {n for n in dir(andon.twin) if not n.startswith("_") and n not in modules}
    assert exported == set(andon.twin.__all__)


@pytest.mark.parametrize("module", [kernel, resources])
def test_module_docstring_example_runs(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_timeouts_run_in_time_order_and_ties_in_insertion_order() -> None:
    env = Environment(initial_time=10.0)
    log: list[tuple[float, str]] = []

    def note(name: str) -> Any:
        return lambda ev: log.append((env.now, name))

    for delay, name in [(3, "c"), (1, "a"), (3, "d"), (2, "b"), (0, "z")]:
        env.timeout(delay).callbacks.append(note(name))  # type: ignore[union-attr]
    env.run()
    assert log == [(10.0, "z"), (11.0, "a"), (12.0, "b"), (13.0, "c"), (13.0, "d")]


def test_run_until_leaves_events_at_that_time_and_sets_now() -> None:
    env = Environment()
    seen: list[float] = []
    env.timeout(5).callbacks.append(lambda ev: seen.append(env.now))  # type: ignore[union-attr]
    env.run(until=5)
    assert env.now == 5.0 and seen == []
    assert env.peek() == 5.0
    env.step()
    assert seen == [5.0]
    assert env.peek() == float("inf")
    with pytest.raises(EmptySchedule):
        env.step()
    with pytest.raises(ValueError):
        env.run(until=1)


def test_timeout_value_and_negative_delay() -> None:
    env = Environment()
    t = env.timeout(2, value="done")
    assert t.triggered and not t.processed
    env.run()
    assert t.processed and t.value == "done"
    with pytest.raises(ValueError):
        env.timeout(-1)


def test_processes_wait_for_each_other_and_return_values() -> None:
    env = Environment()

    def child(env: Environment) -> ProcessGenerator:
        yield env.timeout(3)
        return 42

    def parent(env: Environment, out: list[Any]) -> ProcessGenerator:
        value = yield env.process(child(env))
        out.append((env.now, value))
        value = yield env.timeout(1, value="x")
        out.append((env.now, value))

    out: list[Any] = []
    p = env.process(parent(env, out))
    env.run()
    assert out == [(3.0, 42), (4.0, "x")]
    assert not p.is_alive and p.value is None


def test_run_until_event_returns_its_value() -> None:
    env = Environment()

    def work(env: Environment) -> ProcessGenerator:
        yield env.timeout(7)
        return "ok"

    assert env.run(until=env.process(work(env))) == "ok"
    assert env.now == 7.0


def test_simultaneous_processes_are_deterministic() -> None:
    def trace() -> list[str]:
        env = Environment()
        log: list[str] = []

        def worker(env: Environment, name: str) -> ProcessGenerator:
            for _ in range(3):
                yield env.timeout(1)
                log.append(name)

        for name in "abc":
            env.process(worker(env, name))
        env.run()
        return log

    assert trace() == trace() == ["a", "b", "c"] * 3


def test_event_succeed_wakes_waiters_and_fail_throws() -> None:
    env = Environment()
    gate = env.event()
    out: list[Any] = []

    def waiter(env: Environment) -> ProcessGenerator:
        out.append((yield gate))
        try:
            yield bad
        except KeyError as exc:
            out.append(repr(exc))

    bad = env.event()
    env.process(waiter(env))
    env.run(until=1)
    gate.succeed("open")
    env.run(until=2)
    bad.fail(KeyError("x"))
    env.run()
    assert out == ["open", "KeyError('x')"]
    with pytest.raises(RuntimeError):
        gate.succeed()


def test_unhandled_failure_surfaces_from_run() -> None:
    env = Environment()

    def broken(env: Environment) -> ProcessGenerator:
        yield env.timeout(1)
        raise ValueError("boom")

    env.process(broken(env))
    with pytest.raises(ValueError, match="boom"):
        env.run()


def test_yielding_a_non_event_is_a_type_error_inside_the_process() -> None:
    env = Environment()
    out: list[str] = []

    def wrong(env: Environment) -> ProcessGenerator:
        try:
            yield 5  # type: ignore[misc]
        except TypeError:
            out.append("caught")

    env.process(wrong(env))
    env.run()
    assert out == ["caught"]


def test_any_of_and_all_of() -> None:
    env = Environment()
    out: list[Any] = []

    def proc(env: Environment) -> ProcessGenerator:
        a, b = env.timeout(1, "a"), env.timeout(3, "b")
        first = yield env.any_of([a, b])
        out.append((env.now, sorted(first.values())))
        both = yield env.all_of([env.timeout(2, "c"), env.timeout(1, "d")])
        out.append((env.now, sorted(both.values())))
        none = yield env.all_of([])
        out.append(none)

    env.process(proc(env))
    env.run()
    assert out == [(1.0, ["a"]), (3.0, ["c", "d"]), {}]


def test_interrupt_reaches_the_process_with_its_cause() -> None:
    env = Environment()
    out: list[Any] = []

    def machine(env: Environment) -> ProcessGenerator:
        try:
            yield env.timeout(10)
        except Interrupt as irq:
            out.append((env.now, irq.cause))
        yield env.timeout(1)
        out.append(env.now)

    def breaker(env: Environment, victim: kernel.Process) -> ProcessGenerator:
        yield env.timeout(4)
        victim.interrupt("breakdown")

    m = env.process(machine(env))
    env.process(breaker(env, m))
    env.run()
    assert out == [(4.0, "breakdown"), 5.0]
    with pytest.raises(RuntimeError):
        m.interrupt()


def test_store_is_fifo_and_get_waits_for_items() -> None:
    env = Environment()
    store = Store(env)
    got: list[tuple[float, Any]] = []

    def consumer(env: Environment) -> ProcessGenerator:
        for _ in range(3):
            item = yield store.get()
            got.append((env.now, item))

    def producer(env: Environment) -> ProcessGenerator:
        for item in ["a", "b", "c"]:
            yield env.timeout(2)
            yield store.put(item)

    env.process(consumer(env))
    env.process(producer(env))
    env.run()
    assert got == [(2.0, "a"), (4.0, "b"), (6.0, "c")]


def test_store_put_blocks_when_full() -> None:
    env = Environment()
    store = Store(env, capacity=2)
    put_times: list[float] = []

    def producer(env: Environment) -> ProcessGenerator:
        for i in range(4):
            yield store.put(i)
            put_times.append(env.now)

    def consumer(env: Environment) -> ProcessGenerator:
        yield env.timeout(5)
        assert (yield store.get()) == 0
        yield env.timeout(5)
        assert (yield store.get()) == 1

    env.process(producer(env))
    env.process(consumer(env))
    env.run()
    assert put_times == [0.0, 0.0, 5.0, 10.0]
    assert list(store.items) == [2, 3]
    with pytest.raises(ValueError):
        Store(env, capacity=0)


def test_store_requests_can_be_cancelled() -> None:
    env = Environment()
    store = Store(env)
    get = store.get()
    get.cancel()
    store.put("x")
    assert not get.triggered and list(store.items) == ["x"]
    full = Store(env, capacity=1)
    full.put(1)
    put = full.put(2)
    put.cancel()
    assert (yield_value(env, full.get())) == 1
    assert len(full) == 0


def yield_value(env: Environment, event: Event) -> Any:
    return env.run(until=event)
