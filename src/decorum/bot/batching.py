"""A micro-batcher: concurrent callers' items are gathered into one call on a dedicated thread.

CPU-bound work (checks, generation) runs here, never on the event loop, so acks never wait for a
model; concurrent requests share forward passes.

The queue is bounded: with ``max_pending`` items already waiting, ``submit`` raises ``Busy`` at once and
nothing is queued. An item carries its request's deadline (``time.monotonic()``); one whose deadline passed
while it waited, or whose caller stopped waiting (cancelled), is dropped unrun, its future failed with
``Busy``. An item already in a running batch is finished (a forward pass cannot be cut short here).
The queue's depth is the gauge ``decorum_queue_depth{queue=<name>}``.

Example::

    gen = MicroBatcher(generator.generate, max_batch=8, max_wait_s=0.01, name="generate", max_pending=64)
    out = await gen.submit(request, deadline=time.monotonic() + 120)   # or raises Busy
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from decorum import metrics
from decorum.errors import Busy

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Item(Generic[T]):
    value: T
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    deadline: float | None = None


class MicroBatcher(Generic[T, R]):
    """Runs ``fn(list_of_items) -> list_of_results`` on one worker thread, batching what arrives together."""

    def __init__(self, fn: Callable[[list[T]], list[R]], *, max_batch: int = 8, max_wait_s: float = 0.005,
                 name: str = "batch", max_pending: int | None = None, retry_after_s: float = 5.0) -> None:
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.name = name
        self.max_pending = max_pending
        self.retry_after_s = retry_after_s
        self._queue: queue.Queue[_Item[T] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pending = 0  # items queued and not yet taken by the worker
        self._pending_lock = threading.Lock()
        self._depth = metrics.QUEUE_DEPTH.labels(name)
        self.batches = 0
        self.dropped = 0  # items not run: deadline passed or caller gone

    async def submit(self, value: T, *, deadline: float | None = None) -> R:
        """``fn``'s result for ``value``; ``Busy`` at once when the queue is full or ``deadline`` has passed."""
        if deadline is not None and time.monotonic() >= deadline:
            raise Busy(f"{self.name}: the request's deadline passed before it was queued",
                       retry_after_s=self.retry_after_s, reason="deadline")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        with self._pending_lock:
            if self.max_pending is not None and self._pending >= self.max_pending:
                raise Busy(f"{self.name}: queue full ({self.max_pending} waiting)", retry_after_s=self.retry_after_s)
            self._pending += 1
            self._depth.set(self._pending)
        self._ensure_thread()
        self._queue.put(_Item(value, fut, loop, deadline))
        return await fut

    @property
    def pending(self) -> int:
        return self._pending

    def _taken(self) -> None:
        with self._pending_lock:
            self._pending -= 1
            self._depth.set(self._pending)

    def _live(self, item: _Item[T]) -> bool:
        """Whether ``item`` should still run; fails (or forgets) it when not."""
        self._taken()
        if item.future.cancelled():  # the caller stopped waiting (its own deadline, shutdown)
            self.dropped += 1
            return False
        if item.deadline is not None and time.monotonic() >= item.deadline:
            self.dropped += 1
            _hand(item, None, Busy(f"{self.name}: the request's deadline passed while it was queued",
                                   retry_after_s=self.retry_after_s, reason="deadline"))
            return False
        return True

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"decorum-{self.name}", daemon=True)
                self._thread.start()

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first] if self._live(first) else []
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=self.max_wait_s)
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                if self._live(nxt):
                    batch.append(nxt)
            if not batch:
                continue
            self.batches += 1
            try:
                results = self.fn([it.value for it in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} items")
            except BaseException as exc:  # handed to every waiter; the worker lives on
                for it in batch:
                    _hand(it, None, exc)
            else:
                for it, res in zip(batch, results, strict=True):
                    _hand(it, res, None)


def _hand(item: _Item[Any], result: Any, exc: BaseException | None) -> None:
    """Resolve ``item``'s future on its own loop (a closed loop: nobody is waiting any more)."""
    try:
        item.loop.call_soon_threadsafe(_resolve, item.future, result, exc)
    except RuntimeError:
        pass


def _resolve(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
