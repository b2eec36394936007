"""Waiting for executions to finish, for ``run?wait=true`` (and, later, synchronous webhooks).

Every gateway replica hears every ``ExecutionFinished`` on its own queue; a notice may arrive before the
waiter registers, so recent notices are remembered for a while.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from flowtape.common.messages.engine import ExecutionFinished

RECENT = 10_000


class FinishedExecutions:
    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[ExecutionFinished]]] = {}
        self._recent: OrderedDict[str, ExecutionFinished] = OrderedDict()

    async def on_finished(self, notice: ExecutionFinished) -> None:
        self._recent[notice.execution_id] = notice
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        for future in self._waiters.pop(notice.execution_id, []):
            if not future.done():
                future.set_result(notice)

    async def wait(self, execution_id: str, timeout: float) -> ExecutionFinished | None:
        """The finish notice, or None when ``timeout`` passes first."""
        if execution_id in self._recent:
            return self._recent[execution_id]
        future: asyncio.Future[ExecutionFinished] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(execution_id, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(execution_id)
            if waiters and future in waiters:
                waiters.remove(future)
                if not waiters:
                    self._waiters.pop(execution_id, None)
