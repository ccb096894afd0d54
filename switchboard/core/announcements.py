"""What a caller waiting in a queue hears (MISSION Q3, Q4): music, announcements, adverts.

Music (or silence, ``music: null``) plays while the caller waits; every ``announce.every``
seconds the caller hears their position and the estimated wait (B3, from the queue's
estimators), and every ``adverts.every`` seconds the queue's adverts. An announcement or an
advert waits while another prompt plays or an agent is being connected; music resumes after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.config.model import Queue
from switchboard.core import commands as c
from switchboard.core.state import Call

if TYPE_CHECKING:
    from switchboard.core.switchboard import Switchboard


class Announcements:
    """Music, position/ETA announcements and adverts for the callers in queues."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def start(self, call: Call, cfg: Queue, now: float) -> None:
        """The call joined a queue configured by ``cfg``: schedule its first announcement
        and advert."""
        sb = self.sb
        if cfg.announce is not None:
            call.timers.append(sb.later(now + cfg.announce.first_after,
                                        lambda t: self._announce(call, t)))
        if cfg.adverts is not None:
            call.timers.append(sb.later(now + cfg.adverts.first_after,
                                        lambda t: self._advert(call, t)))

    def resume_music(self, call: Call) -> None:
        """Music while waiting, or silence (``music: null``): the caller is answered either
        way, and nothing plays between announcements."""
        assert call.queue is not None
        music = self.sb.queues.config(call.queue).music
        if music is None:
            self.sb.ensure_answered(call)
            call.music_on = False
            return
        self.sb.play(call, (c.Prompt(music),), loop=True)

    def _announce(self, call: Call, now: float) -> None:
        entry = call.entry
        if call.ended or entry is None or not entry.active:
            return
        sb = self.sb
        ann = sb.queues.config(entry.queue).announce
        assert ann is not None
        call.timers.append(sb.later(now + ann.every, lambda t: self._announce(call, t)))
        if call.phase != "queued" or call.wait_play:
            return  # an agent is being connected, or another prompt is playing
        pos = sb.queues.position(entry)
        estimates = sb.queues.estimate(entry, now)
        sb.out.append(c.EtaEstimated(call.id, entry.queue, now, pos, estimates))
        prompts: list[c.Utterance] = []
        if ann.position:
            prompts += [c.Prompt("queue_position"), c.SayNumber(pos)]
        # An estimate under a second (an agent is about to answer) is not announced: "zero
        # seconds" helps nobody (Asterisk skips a zero hold time the same way).
        if ann.eta and estimates.get("switchboard", 0) >= 1:
            prompts += [c.Prompt("queue_eta"), c.SayDuration(int(estimates["switchboard"]))]
        if prompts:
            sb.play(call, tuple(prompts))
            call.phase = "queued"

    def _advert(self, call: Call, now: float) -> None:
        entry = call.entry
        if call.ended or entry is None or not entry.active:
            return
        sb = self.sb
        adverts = sb.queues.config(entry.queue).adverts
        assert adverts is not None
        if call.phase != "queued" or call.wait_play:
            call.timers.append(sb.later(now + 5, lambda t: self._advert(call, t)))
            return
        call.timers.append(sb.later(now + adverts.every, lambda t: self._advert(call, t)))
        sb.play(call, tuple(c.Prompt(p) for p in adverts.prompts))
        call.phase = "queued"
