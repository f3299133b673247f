"""The single writer: serialises every state change onto one thread and commits in groups.

Requests put commands on an asyncio queue and await their future. The writer takes everything
that is waiting (up to `max_batch`), applies it in ONE transaction of the state backend (state.py)
on its own thread, and only after COMMIT resolves the futures. So no event is acknowledged before
it is durable, and under load many events share one fsync (group commit) instead of paying one each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hometwin.scheduler.errors import StoreUnavailable
from hometwin.scheduler.state import AddEvent, Claim, Command, EventAccepted, Invocation, Replay, SchedulerState

log = logging.getLogger("hometwin.scheduler.writer")


class StoreWriter:
    def __init__(self, store: SchedulerState, max_batch: int = 256,
                 on_committed: Callable[[list[Invocation]], None] | None = None,
                 observe_batch: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.observe_batch = observe_batch or (lambda size: None)
        self.max_batch = max_batch
        self.on_committed = on_committed or (lambda invocations: None)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler-writer")
        self._queue: asyncio.Queue[tuple[Command, asyncio.Future[Any] | None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.commands = 0
        # True from a failed commit until the next one succeeds: /readyz answers 503 meanwhile.
        self.failing = False

    async def open(self) -> list[Invocation]:
        """Open the store on the writer thread; returns the undelivered outbox (StoreUnavailable)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.store.open)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler-writer")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, command: Command) -> Any:
        """Apply a command; returns once it is committed. Per-command ValueErrors are raised here."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((command, future))
        result = await future
        if isinstance(result, ValueError):
            raise result
        return result

    def submit_nowait(self, command: Command) -> None:
        """Queue a command nobody waits for (delivery outcomes)."""
        self._queue.put_nowait((command, None))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            commands = [c for c, _ in batch]
            try:
                results = await loop.run_in_executor(self._executor, self.store.apply, commands)
            except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
                log.error("commit of %d commands failed: %s", len(commands), exc)
                self.failing = True
                for _, future in batch:
                    if future is not None and not future.done():
                        future.set_exception(StoreUnavailable(str(exc)))
                continue
            if self.failing:
                log.warning("commits succeed again")
                self.failing = False
            self.batches += 1
            self.commands += len(commands)
            self.observe_batch(len(commands))
            fresh: list[Invocation] = []
            for command, result in zip(commands, results, strict=True):
                if isinstance(command, AddEvent) and isinstance(result, EventAccepted):
                    fresh.extend(result.invocations)
                elif isinstance(command, Replay | Claim) and isinstance(result, list):
                    fresh.extend(result)
            if fresh:
                try:
                    self.on_committed(fresh)
                except Exception:  # noqa: BLE001 - the commit stands; dispatch recovers on restart
                    log.exception("handing committed invocations to the dispatcher failed")
            for (_, future), result in zip(batch, results, strict=True):
                if future is not None and not future.done():
                    future.set_result(result)

    async def stop(self) -> None:
        """Finish what is queued, then close the store."""
        if self._task is not None:
            while not self._queue.empty() and not self._task.done():
                await asyncio.sleep(0.01)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.store.close)
        self._executor.shutdown(wait=True)
