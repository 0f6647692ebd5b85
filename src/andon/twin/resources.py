"""Shared resources for the kernel's processes: a FIFO :class:`Store` of items with a capacity
(SimPy keeps its resources apart from its core in the same way).

Example::

    >>> from andon.twin.kernel import Environment
    >>> env = Environment()
    >>> store = Store(env, capacity=1)
    >>> def producer(env, store):
    ...     for i in range(3):
    ...         yield store.put(i)
    ...         yield env.timeout(1)
    >>> got: list[tuple[float, int]] = []
    >>> def consumer(env, store, got):
    ...     while True:
    ...         item = yield store.get()
    ...         got.append((env.now, item))
    ...         yield env.timeout(2)
    >>> _ = env.process(producer(env, store))
    >>> _ = env.process(consumer(env, store, got))
    >>> env.run(until=10)
    >>> got
    [(0.0, 0), (2.0, 1), (4.0, 2)]
"""

from __future__ import annotations

from collections import deque
from typing import Any

from andon.twin.kernel import INFINITY, Environment, Event


class StorePut(Event):
    """A request to put ``item`` into a store; triggers once the item is in."""

    def __init__(self, store: Store, item: Any) -> None:
        super().__init__(store.env)
        self.store = store
        self.item = item

    def cancel(self) -> None:
        """Withdraw the request if it has not been granted yet."""
        if not self.triggered and self in self.store.put_queue:
            self.store.put_queue.remove(self)


class StoreGet(Event):
    """A request for the oldest item of a store; triggers with it once there is one."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.env)
        self.store = store

    def cancel(self) -> None:
        """Withdraw the request if it has not been granted yet."""
        if not self.triggered and self in self.store.get_queue:
            self.store.get_queue.remove(self)


class Store:
    """A FIFO of items with a capacity: ``put`` waits while it is full, ``get`` while empty.

    Requests are granted in the order they were made; granting happens at once (the request
    event is triggered at the current time), so a put and the get it unblocks share a timestamp.
    Subclasses change the discipline by overriding ``_do_put`` / ``_do_get``.
    """

    def __init__(self, env: Environment, capacity: float = INFINITY) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be greater than zero")
        self.env = env
        self.capacity = capacity
        self.items: deque[Any] = deque()
        self.put_queue: deque[StorePut] = deque()
        self.get_queue: deque[StoreGet] = deque()

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: Any) -> StorePut:
        request = StorePut(self, item)
        self.put_queue.append(request)
        self._settle()
        return request

    def get(self) -> StoreGet:
        request = StoreGet(self)
        self.get_queue.append(request)
        self._settle()
        return request

    def _do_put(self, request: StorePut) -> bool:
        if len(self.items) < self.capacity:
            self.items.append(request.item)
            request.succeed()
            return True
        return False

    def _do_get(self, request: StoreGet) -> bool:
        if self.items:
            request.succeed(self.items.popleft())
            return True
        return False

    def _settle(self) -> None:
        """Grant waiting requests until neither side can move."""
        moved = True
        while moved:
            moved = False
            while self.get_queue and self._do_get(self.get_queue[0]):
                self.get_queue.popleft()
                moved = True
            while self.put_queue and self._do_put(self.put_queue[0]):
                self.put_queue.popleft()
                moved = True
