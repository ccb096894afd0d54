"""The asyncio adapter around the sans-IO routing core.

It owns the real clock: events are stamped with wall-clock UNIX time (schedules and reports
need real dates), and the core's next deadline is kept as one ``loop.call_at`` handle. Every
command the core returns goes to the handler registered for its type; records nobody
handles (Decision, CallFinished ...) go to the observers (store, API, log).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.switchboard import Switchboard

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class CoreDriver:
    """Feeds the core events with the wall-clock time and carries out its commands."""

    def __init__(self, core: Switchboard, loop: asyncio.AbstractEventLoop,
                 clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.loop = loop
        self.clock = clock
        self.handlers: dict[type, Handler] = {}
        self.observers: list[Callable[[c.Command], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._busy = False
        self._backlog: list[e.Event] = []

    def on(self, kind: type, handler: Handler) -> None:
        """Carry out commands of ``kind`` with ``handler``."""
        self.handlers[kind] = handler

    def feed(self, event: e.Event) -> None:
        """Give the core one event. Re-entrant: events raised while handling wait their turn."""
        self._backlog.append(event)
        if self._busy:
            return
        self._busy = True
        try:
            while self._backlog:
                ev = self._backlog.pop(0)
                self._run(self.core.handle(ev, self.clock()))
        finally:
            self._busy = False
        self._rearm()

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self._busy = True
        try:
            self._run(self.core.on_timer(self.clock()))
            while self._backlog:
                self._run(self.core.handle(self._backlog.pop(0), self.clock()))
        finally:
            self._busy = False
        self._rearm()

    def _run(self, commands: list[c.Command]) -> None:
        for command in commands:
            for observe in self.observers:
                observe(command)
            handler = self.handlers.get(type(command))
            if handler is None:
                continue
            try:
                handler(command)
            except Exception:  # one failed action must not stop the others or the core
                log.exception("carrying out %r failed", command)

    def _rearm(self) -> None:
        deadline = self.core.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            self._timer = self.loop.call_at(self.loop.time() + delay, self._fire)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
