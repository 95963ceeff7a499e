"""One poll scheduler per solver: a heap of due polls, instead of a sleeping coroutine per task.

Thousands of tasks may wait at once. Each waits on one future; this scheduler
keeps their next poll times in a heap, sleeps on one timer until the earliest,
and fires the polls that are due (at most :data:`MAX_IN_FLIGHT` calls at once,
so a burst of due polls never floods the loop or the service). *When* to poll
is :class:`~scrapy_captcha.polling.PollPlanner`'s decision; this module only
keeps time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from .model import CaptchaError, Solution
from .polling import PollPlanner

#: Poll calls under way at once per solver; due polls beyond this wait their turn.
MAX_IN_FLIGHT = 64

#: (task id, deadline, context) -> the solution, or None while processing.
PollCall = Callable[[Any, float, Any], Awaitable["Solution | None"]]


class PendingTask:
    """A created task waiting for its result."""

    __slots__ = ("task_id", "kind", "created", "deadline", "future", "polls", "last_miss", "age", "probe",
                 "seq", "phased", "scout", "context")

    def __init__(self, task_id: Any, kind: str, created: float, deadline: float,
                 future: asyncio.Future[tuple[Solution, int]], context: Any = None):
        self.task_id = task_id
        #: Whatever the poll call needs besides the id (the challenge, to read its answer).
        self.context = context
        self.kind = kind
        self.created = created
        self.deadline = deadline
        self.future = future
        self.polls = 0
        #: Age (seconds since created) of the last poll that found it still processing.
        self.last_miss: float | None = None
        #: Age of the next planned poll (None: not planned yet).
        self.age: float | None = None
        #: The anchor of the probe this task is (None: not a probe).
        self.probe: float | None = None
        self.seq = 0
        #: Has its place on the grid (cold tasks wait for their cohort's phases).
        self.phased = False
        #: Polls before anything is known about its kind.
        self.scout = False


class Poller:
    """Polls every pending task of one solver on the plan of its :class:`PollPlanner`."""

    def __init__(self, planner: PollPlanner, poll: PollCall, *, max_polls: int,
                 on_timeout: Callable[[], CaptchaError], on_too_many: Callable[[int], CaptchaError]):
        self.planner = planner
        self._poll = poll
        self.max_polls = max_polls
        self._on_timeout = on_timeout
        self._on_too_many = on_too_many
        self._heap: list[tuple[float, int, PendingTask]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._in_flight = 0
        self._calls: set[asyncio.Task[None]] = set()
        #: kind -> cold tasks not yet given a phase / waiting for a scout's answer.
        self._cold: dict[str, list[PendingTask]] = {}
        self._waiting: dict[str, list[PendingTask]] = {}
        #: kind -> cold tasks polling before anything is known.
        self._scouts: dict[str, int] = {}
        #: Called with (kind, last miss, hit) for every answered task (the fleet shares them).
        self.on_observe: Callable[[str, float | None, float], None] | None = None

    @property
    def pending(self) -> int:
        return len(self._heap) + sum(map(len, self._waiting.values())) + self._in_flight

    def wait(self, task_id: Any, kind: str, created: float, deadline: float,
             context: Any = None) -> asyncio.Future[tuple[Solution, int]]:
        """A future of (solution, polls) for a created task; cancel it to stop polling."""
        loop = asyncio.get_running_loop()
        task = PendingTask(task_id, kind, created, deadline, loop.create_future(), context)
        if self.planner.known(kind):
            self._plan(task)
        else:
            # The phase is chosen when the first of the cohort is due, so that
            # concurrent first tasks spread evenly over one interval.
            self._cold.setdefault(kind, []).append(task)
            task.age = self.planner.min_first
            self._push(task)
        return task.future

    # ----------------------------------------------------------- scheduling

    def _plan(self, task: PendingTask) -> None:
        age, task.probe = self.planner.first_poll(task.kind)
        task.phased = True
        # A task that waited for others to learn may be past its anchor already: ask now.
        task.age = max(age, asyncio.get_running_loop().time() - task.created)
        self._push(task)

    def _push(self, task: PendingTask) -> None:
        assert task.age is not None
        due = min(task.created + task.age, task.deadline)
        task.seq = next(self._seq)
        heapq.heappush(self._heap, (due, task.seq, task))
        self._arm()

    def _arm(self) -> None:
        if not self._heap or self._in_flight >= MAX_IN_FLIGHT:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if due >= self._timer_at:
                return
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer_at = due
        self._timer = loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._heap and self._heap[0][0] <= now and self._in_flight < MAX_IN_FLIGHT:
            _, seq, task = heapq.heappop(self._heap)
            if seq != task.seq or task.future.done():
                continue  # re-planned since, or given up by its solve
            if not task.phased and not self._assign_cold(task):
                continue
            if task.created + (task.age or 0.0) > now + 1e-6 and task.created + (task.age or 0) < task.deadline:
                self._push(task)  # its phase moved it later
                continue
            self._in_flight += 1
            call = loop.create_task(self._run(task))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        self._arm()

    def _assign_cold(self, task: PendingTask) -> bool:
        """Phases for a cold cohort, when its first task is due. False: ``task`` waits."""
        kind = task.kind
        if self.planner.known(kind):
            self._forget_cold(task)
            self._plan(task)
            return False
        cohort = [t for t in self._cold.pop(kind, []) if not t.future.done()]
        if task not in cohort:
            cohort.append(task)
        cohort.sort(key=lambda t: t.created)
        room = max(0, self.planner.scouts - self._scouts.get(kind, 0))
        scouts, rest = cohort[:room], cohort[room:]
        for i, scout in enumerate(scouts):
            scout.age, _ = self.planner.first_poll(kind, cohort_size=len(scouts), index=i)
            scout.phased = scout.scout = True
            self._scouts[kind] = self._scouts.get(kind, 0) + 1
            if scout is not task:
                self._push(scout)
        if rest:
            self._waiting.setdefault(kind, []).extend(rest)
        return task in scouts

    def _forget_cold(self, task: PendingTask) -> None:
        cold = self._cold.get(task.kind)
        if cold and task in cold:
            cold.remove(task)

    def _learned(self, kind: str) -> None:
        """The first answer for ``kind``: tasks waiting for it get their plan."""
        for task in self._waiting.pop(kind, []):
            if not task.future.done():
                self._plan(task)
        for task in self._cold.pop(kind, []):
            if not task.future.done():
                self._plan(task)

    def _scout_done(self, task: PendingTask) -> None:
        if not task.scout:
            return
        task.scout = False
        left = self._scouts[task.kind] = self._scouts.get(task.kind, 1) - 1
        if left > 0:
            return
        del self._scouts[task.kind]
        waiting = [t for t in self._waiting.pop(task.kind, []) if not t.future.done()]
        if waiting and not self.planner.known(task.kind):
            # Every scout ended without an answer: the next ones go out now.
            now = asyncio.get_running_loop().time()
            for t in waiting:
                t.age = now - t.created
                self._cold.setdefault(t.kind, []).append(t)
                self._push(t)

    # --------------------------------------------------------------- polling

    async def _run(self, task: PendingTask) -> None:
        loop = asyncio.get_running_loop()
        try:
            task.polls += 1
            asked = loop.time() - task.created
            try:
                solution = await self._poll(task.task_id, task.deadline, task.context)
            except CaptchaError as exc:
                self._finish(task, exc=exc)
                return
            if solution is not None:
                first = not self.planner.known(task.kind)
                self.planner.observe(task.kind, task.last_miss, asked, probe=task.probe)
                if self.on_observe is not None:
                    self.on_observe(task.kind, task.last_miss, asked)
                self._finish(task, solution=solution)
                if first:
                    self._learned(task.kind)
                return
            task.last_miss = asked
            if loop.time() >= task.deadline:
                self._finish(task, exc=self._on_timeout())
            elif task.polls >= self.max_polls:
                self._finish(task, exc=self._on_too_many(task.polls))
            else:
                assert task.age is not None
                task.age += self.planner.interval
                self._push(task)
        finally:
            self._in_flight -= 1
            self._arm()

    def _finish(self, task: PendingTask, *, solution: Solution | None = None, exc: BaseException | None = None) -> None:
        if solution is None:
            self.planner.abandon(task.kind, task.probe)
        self._scout_done(task)
        if task.future.done():
            return
        if exc is not None:
            task.future.set_exception(exc)
        else:
            assert solution is not None
            task.future.set_result((solution, task.polls))

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for call in list(self._calls):
            call.cancel()
        self._heap.clear()
