"""A micro-batcher: concurrent callers' items are gathered into one call on a dedicated thread.

CPU-bound work (checks, generation) runs here, never on the event loop, so acks never wait for a
model; concurrent requests share forward passes.

Example::

    gen = MicroBatcher(generator.generate, max_batch=8, max_wait_s=0.01, name="generate")
    out = await gen.submit(request)
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Item(Generic[T]):
    value: T
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class MicroBatcher(Generic[T, R]):
    """Runs ``fn(list_of_items) -> list_of_results`` on one worker thread, batching what arrives together."""

    def __init__(self, fn: Callable[[list[T]], list[R]], *, max_batch: int = 8, max_wait_s: float = 0.005,
                 name: str = "batch") -> None:
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.name = name
        self._queue: queue.Queue[_Item[T] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0

    async def submit(self, value: T) -> R:
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Item(value, fut, loop))
        return await fut

    @property
    def pending(self) -> int:
        return self._queue.qsize()

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
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=self.max_wait_s)
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self.batches += 1
            try:
                results = self.fn([it.value for it in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} items")
                for it, res in zip(batch, results, strict=True):
                    it.loop.call_soon_threadsafe(_resolve, it.future, res, None)
            except BaseException as exc:  # handed to every waiter; the worker lives on
                for it in batch:
                    it.loop.call_soon_threadsafe(_resolve, it.future, None, exc)


def _resolve(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
