"""The worker's deadline sweeper (providers.deadlines): expired deadlines fire, dropped ones do not, and
the sweeper's timer is armed only while some deadline is held."""

from __future__ import annotations

import asyncio
from typing import Any

from providers.deadlines import Deadlines


class _Content:
    def __init__(self) -> None:
        self.failed: BaseException | None = None

    def set_exception(self, exc: BaseException) -> None:
        self.failed = exc


class _Resp:
    def __init__(self) -> None:
        self.content = _Content()


def test_a_deadline_before_the_answer_cancels_the_waiting_task() -> None:
    async def main() -> tuple[bool, bool, int]:
        sweeper = Deadlines(tick=0.01)
        fired: list[Any] = []

        async def call() -> None:
            entry = sweeper.add(0.05)
            fired.append(entry)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                entry.drop()
                raise

        task = asyncio.create_task(call())
        try:
            await asyncio.wait_for(task, 10)
        except asyncio.CancelledError:
            pass
        return task.cancelled(), fired[0].fired, len(sweeper)

    cancelled, fired, held = asyncio.run(main())
    assert cancelled and fired and held == 0


def test_a_deadline_after_the_headers_fails_the_body_and_dropped_ones_never_fire() -> None:
    async def main() -> tuple[Any, ...]:
        sweeper = Deadlines(tick=0.01)
        late, kept, dropped = _Resp(), _Resp(), _Resp()
        entries = []
        for resp, seconds in ((late, 0.03), (kept, 30.0), (dropped, 0.03)):
            entry = sweeper.add(seconds)
            entry.resp = resp
            entries.append(entry)
        entries[2].drop()
        entries[2].drop()  # twice is harmless (a connection's callbacks and an error path may both drop)
        for _ in range(200):
            if late.content.failed is not None:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        armed_while_held = sweeper._handle is not None
        entries[1].drop()
        await asyncio.sleep(0.05)
        return late, kept, dropped, armed_while_held, sweeper._handle, len(sweeper)

    late, kept, dropped, armed_while_held, handle_after, held = asyncio.run(main())
    assert isinstance(late.content.failed, TimeoutError)
    assert kept.content.failed is None and dropped.content.failed is None
    assert armed_while_held and handle_after is None and held == 0


def test_a_deadline_already_due_is_still_swept() -> None:
    async def main() -> bool:
        sweeper = Deadlines(tick=0.01)
        resp = _Resp()
        sweeper.add(0.0).resp = resp
        for _ in range(200):
            if resp.content.failed is not None:
                return True
            await asyncio.sleep(0.01)
        return False

    assert asyncio.run(main())
