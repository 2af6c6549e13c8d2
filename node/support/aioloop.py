"""A private asyncio loop on its own thread, for the small servers (OSCQuery, the preview) that
live beside the frame threads: started and stopped from ordinary threads, and stopped cleanly -
no task is left pending when the loop ends."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait for its result (its exception is raised here)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, last: Coroutine[Any, Any, None] | None = None, timeout: float = 5.0) -> None:
        """Run `last` (the server's own cleanup), cancel whatever still runs, end the thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.run(self._finish(last), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()

    @staticmethod
    async def _finish(last: Coroutine[Any, Any, None] | None) -> None:
        if last is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(last, 3.0)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
