"""InProcessMedia through the MediaEngine interface the runtime uses."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from switchboard.media import DtmfReceived, InProcessMedia, MediaEngine, MediaEvent, RelayConfig
from switchboard.media.rtp import dtmf_packets

from .udp import LOCALHOST, Phone, run, talk, tone_frames, until

pytestmark = pytest.mark.timeout(30)


def make_engine(events: list[MediaEvent]) -> InProcessMedia:
    config = RelayConfig(bind_ip=LOCALHOST, port_range=(31400, 31499))
    return InProcessMedia(config, random.Random(11), events.append)


def test_in_process_media_is_a_media_engine() -> None:
    engine: MediaEngine = make_engine([])  # checked by mypy as well
    assert isinstance(engine, MediaEngine)


def test_media_calls_for_an_unknown_leg_raise_key_error() -> None:
    async def scenario() -> None:
        engine = make_engine([])
        await engine.allocate("a")
        with pytest.raises(KeyError):
            await engine.play("b", [Path("greeting.wav")])
        with pytest.raises(KeyError):
            await engine.stop("b")
        with pytest.raises(KeyError):
            await engine.record("b", Path("b.wav"), max_seconds=60)
        with pytest.raises(KeyError):
            await engine.stop_recording("b")
        await engine.close()

    run(scenario())


def test_allocate_bridge_unbridge_release() -> None:
    async def scenario() -> None:
        events: list[MediaEvent] = []
        engine = make_engine(events)
        caller = await engine.allocate("call-1")
        agent = await engine.allocate("leg-1")
        assert caller[0] == agent[0] == LOCALHOST
        phone_caller, phone_agent = await Phone.open(), await Phone.open()
        await engine.set_remote("call-1", *phone_caller.addr, 8, telephone_event_pt=101)
        await engine.set_remote("leg-1", *phone_agent.addr, 8, telephone_event_pt=None)

        # In an IVR, before any bridge: keys are reported, audio goes nowhere.
        for packet in dtmf_packets("1", payload_type=101, ssrc=1, sequence=0, timestamp=0):
            phone_caller.send(packet.serialize(), caller)
        frames = tone_frames(1000, 0.1)
        await talk(phone_caller, caller, frames, ssrc=1, sequence=7, timestamp=960, pace=0,
                   payload_type=8)
        await until(lambda: engine.stats("call-1").packets_in == 12)

        await engine.bridge("call-1", "leg-1")
        await talk(phone_caller, caller, frames, ssrc=1, sequence=12, timestamp=1760, pace=0,
                   payload_type=8)
        await talk(phone_agent, agent, frames, ssrc=2, pace=0, payload_type=8)
        assert [p.payload for p in await phone_agent.wait_for(5)] == frames
        assert [p.payload for p in await phone_caller.wait_for(5)] == frames
        for packet in dtmf_packets("#", payload_type=101, ssrc=1, sequence=17, timestamp=2560):
            phone_caller.send(packet.serialize(), caller)
        await talk(phone_caller, caller, frames, ssrc=1, sequence=24, timestamp=3520, pace=0,
                   payload_type=8)
        await phone_agent.wait_for(10)  # the agent leg has no telephone-event: keys not sent

        await engine.unbridge("leg-1")
        await talk(phone_caller, caller, frames, ssrc=1, sequence=29, timestamp=4320, pace=0,
                   payload_type=8)
        await until(lambda: engine.stats("call-1").packets_in == 12 + 5 + 12 + 5)
        assert engine.stats("call-1").unbridged == 12 + 5  # before the bridge and after it
        assert len(phone_agent.received) == 10
        assert len(phone_caller.received) == 5

        assert events == [
            DtmfReceived("call-1", "1", 0.1),
            DtmfReceived("call-1", "#", 0.1),
        ]
        await engine.release("call-1")
        await engine.release("call-1")
        await engine.release("never-allocated")
        await engine.release("leg-1")
        assert engine.relay.leg_ids == frozenset()
        held = engine.relay.ports.in_use
        assert engine.relay.parked_ports == held and len(held) == 2  # resting before reuse
        phone_caller.close()
        phone_agent.close()
        await engine.close()
        assert engine.relay.ports.in_use == frozenset()

    run(scenario())
