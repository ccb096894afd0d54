"""The listening tests' ears (``audio.py``): captured RTP laid out by timestamp and searched
for prompts, including prompts whose sender stalled and skipped slots (gaps in the RTP
timestamps, as ``switchboard.media.player.Playout`` leaves after a stall)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from switchboard.core.commands import Prompt
from switchboard.media import g711
from switchboard.media.prompts import PromptLibrary

from .audio import Datagram, Heard, best_match, prompt_pcm

LIBRARY = PromptLibrary()
FRAME = 160
START = 1_800_000_000.0


def pcm(name: str) -> npt.NDArray[np.int16]:
    return prompt_pcm(LIBRARY.compose([Prompt(name)]))


def rtp(audio: npt.NDArray[np.int16], skips: Sequence[tuple[float, int]] = ()
        ) -> list[Datagram]:
    """``audio`` as PCMU packets of 20 ms; at each (second, frames) of ``skips`` the sender
    skips that many slots: the timestamp and the arrival time jump, no audio is lost."""
    skipped_at = {round(second * 50): frames for second, frames in skips}
    out = []
    slot = 0
    for index, offset in enumerate(range(0, len(audio) - FRAME + 1, FRAME)):
        slot += skipped_at.get(index, 0)
        header = struct.pack("!BBHII", 0x80, 0, index & 0xFFFF, slot * FRAME, 0x1234)
        payload = g711.encode(audio[offset:offset + FRAME], g711.Law.ULAW)
        out.append(Datagram(START + slot * 0.02, ("127.0.0.1", 4000), header + payload))
        slot += 1
    return out


def stream(*parts: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    return np.concatenate(parts)


def test_a_prompt_played_whole_is_found_where_it_is() -> None:
    music = pcm("music_on_hold")[:16000]
    heard = Heard.from_rtp(rtp(stream(music, pcm("advert"), music)))
    found = heard.find(pcm("advert"))
    assert found.score > 0.98
    assert abs(found.start - (START + 2.0)) < 0.002


def test_a_prompt_heard_with_gaps_where_its_sender_stalled_is_still_heard() -> None:
    music, advert = pcm("music_on_hold")[:16000], pcm("advert")
    # Three stalls in the advert (after 1.1 s, 2.5 s and 3.8 s of it): 60, 120 and 200 ms
    # of slots skipped. Matched in one piece, the advert no longer fits.
    captured = rtp(stream(music, advert, music), [(3.1, 3), (4.5, 6), (5.8, 10)])
    heard = Heard.from_rtp(captured)
    one_piece = best_match(heard.pcm, advert)
    assert one_piece.score < 0.9
    found = heard.find(advert)
    assert found.score > 0.95
    assert abs(found.start - (START + 2.0)) < 0.002
    assert abs(found.end - found.start - (len(advert) / 8000 + 0.38)) < 0.03


def test_gaps_do_not_make_another_prompt_or_a_cut_prompt_heard() -> None:
    music, advert = pcm("music_on_hold")[:16000], pcm("advert")
    heard = Heard.from_rtp(rtp(stream(music, advert, music), [(3.1, 3), (5.8, 10)]))
    for other in ("all_busy", "greeting", "thanks_for_waiting", "ivr_main"):
        assert heard.find(pcm(other)).score < 0.5, other
    # The advert with two seconds of its middle replaced by music is not the advert heard.
    cut = advert.copy()
    cut[16000:32000] = music[:16000]
    heard = Heard.from_rtp(rtp(stream(music, cut, music), [(3.1, 3)]))
    assert heard.find(advert).score < 0.9


def test_a_short_prompt_with_a_gap_early_in_it_is_still_heard() -> None:
    # Music starting a call, its sender stalled 0.3 s in (slots skipped at the start of a
    # call, when the server is busiest): the gap falls inside the first piece.
    music = pcm("music_on_hold")
    heard = Heard.from_rtp(rtp(music[:24000], [(0.3, 7)]))
    assert best_match(heard.pcm, music[:8000]).score < 0.9
    found = heard.find(music[:8000])
    assert found.score > 0.95
    assert abs(found.start - START) < 0.002
    assert heard.find(pcm("advert")[:8000]).score < 0.5
