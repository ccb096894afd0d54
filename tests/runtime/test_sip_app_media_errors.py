"""The B2BUA without sockets when its media engine fails: a prompt that cannot be played
(rtpengine not answering) is passed over after a prompt's time, so the call goes on; a bridge
that fails leaves the call connected in SIP, and a hold and resume bridges it again."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

import pytest

from switchboard.media.ng import NgError
from switchboard.runtime.playback import PROMPT_SECONDS

from .test_sip_app_hold_overload import (
    FakeMedia,
    Harness,
    bridged,
    in_dialog,
    invite,
    register_201,
    sdp,
)


class SilentRtpEngine(FakeMedia):
    """Plays nothing: every play fails as the rtpengine driver's does when nobody answers."""

    async def play(self, leg_id: str, files: Sequence[str | os.PathLike[str]], *,
                   loop: bool = False, play_id: int = 0) -> None:
        self.log.append(("play failed", leg_id))
        raise NgError("play media", "no answer from 127.0.0.1:2223")


def test_a_greeting_that_cannot_be_played_is_passed_over_and_the_caller_reaches_the_queue(
) -> None:
    async def scenario() -> None:
        h = Harness(", music: null", steps="{play: greeting}, {queue: q}",
                    media=SilentRtpEngine())
        await register_201(h)
        await h.receive(invite("c1", body=sdp(40002)))
        ok = h.final("c1")
        assert ok.status == 200
        await h.receive(in_dialog("ACK", "c1", 1, ok.to.tag or ""))
        assert ("play failed", "c1") in h.media.log
        assert h.requests("INVITE") == [], "the greeting is still 'playing'"
        await asyncio.sleep(PROMPT_SECONDS + 0.1)
        await h.settle()
        rung = h.requests("INVITE")
        assert [r.uri.user for r in rung] == ["201"], "the queue rings the agent"
        await h.app.close()

    asyncio.run(scenario())


class BridgeFailsOnce(FakeMedia):
    """The first bridge fails as the rtpengine driver's does when nobody answers."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def bridge(self, a: str, b: str) -> None:
        if not self.failed:
            self.failed = True
            self.log.append(("bridge failed", a, b))
            raise NgError("answer", "no answer from 127.0.0.1:2223")
        await super().bridge(a, b)


def test_a_bridge_that_fails_leaves_the_call_up_and_a_hold_and_resume_bridges_it_again(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        h = Harness(", music: null", media=BridgeFailsOnce())
        to_tag, leg, _ = await bridged(h, "bridge failed")
        assert f"cannot bridge the media of c1 and {leg}" in caplog.text
        assert "Traceback" not in caplog.text
        assert h.requests("BYE") == [], "the parties stay connected"
        mark = len(h.media.log)
        await h.receive(invite("c1", 2, sdp(40002, "sendonly", version=2), to_tag))
        assert h.final("c1", cseq=2).status == 200
        await h.receive(invite("c1", 3, sdp(40002, "sendrecv", version=3), to_tag))
        assert h.final("c1", cseq=3).status == 200
        assert ("bridge", "c1", leg) in h.media.since(mark)  # bridged again on resume
        await h.app.close()

    asyncio.run(scenario())


class SlowEngine(FakeMedia):
    """Allocation waits until the test lets it go (an rtpengine answering slowly)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    async def allocate(self, leg_id: str, *, call: str | None = None) -> tuple[str, int]:
        await self.go.wait()
        self.log.append(("allocated", leg_id))
        return await super().allocate(leg_id, call=call)


def test_a_caller_who_cancels_while_its_media_is_allocated_gets_487_and_the_media_is_freed(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        engine = SlowEngine()
        h = Harness(", music: null", media=engine)
        await h.receive(invite("c1", body=sdp(40002)))
        cancel = invite("c1").replace(b"INVITE sip:", b"CANCEL sip:", 1).replace(
            b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
        await h.receive(cancel)
        assert h.final("c1").status == 487
        engine.go.set()  # the allocation comes back after the caller left
        await h.settle()
        assert [r.status for r in h.responses("c1") if r.status >= 200] == [487]
        assert h.media.log[-2:] == [("allocated", "c1"), ("release", "c1")]
        assert "Traceback" not in caplog.text
        await h.app.close()

    asyncio.run(scenario())
