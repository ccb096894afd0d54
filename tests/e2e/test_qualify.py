"""Qualify (``sip.qualify_frequency``) through ``switchboard run``: a real softphone answers
the OPTIONS and stays an agent; once it is gone without unregistering, it is no longer rung
and a caller is not sent to it, until a phone at its contact answers again."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

from .baresip import baresip_agent
from .sipp import (
    agents_yaml,
    drains_at_once,
    finished,
    password_of,
    queue_yaml,
    start_caller,
    stop,
    switchboard,
    write_config,
)

EVERY, WAIT = 5, 1  # qualify_frequency, qualify_timeout of the test


def requests(sock: socket.socket, until: float) -> list[tuple[str, bytes]]:
    """SIP requests that reach ``sock`` until ``until`` (monotonic): (method, raw)."""
    got: list[tuple[str, bytes]] = []
    while (left := until - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            break
        got.append((data.split(b" ", 1)[0].decode(errors="replace"), data))
    return got


def header(request: bytes, name: str) -> str:
    head = request.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    return next(h.split(":", 1)[1].strip() for h in head if h.lower().startswith(name + ":"))


def answer(request: bytes, status: str, extra: str = "", body: str = "") -> bytes:
    """A response copying the request's Via, From, To (with a tag), Call-ID and CSeq."""
    head = request.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    keep = [h for h in head if h.split(":", 1)[0].lower() in ("via", "from", "call-id", "cseq")]
    to = next(h for h in head if h.lower().startswith("to:"))
    return ("\r\n".join([f"SIP/2.0 {status}", *keep, to + ";tag=phone", *extra.splitlines(),
                         f"Content-Length: {len(body)}"]) + "\r\n\r\n" + body).encode()


def answer_then_hang_up(sock: socket.socket, invite: bytes, server: tuple[str, int]) -> None:
    """Take the call (200 with SDP), and once it is acknowledged hang up (BYE): the server
    then hangs up the caller, as when an agent ends a call."""
    me = sock.getsockname()
    sdp = (f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {me[1] + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    sock.sendto(answer(invite, "200 OK", f"Contact: <sip:201@127.0.0.1:{me[1]}>\r\n"
                       "Content-Type: application/sdp", sdp), server)
    got = requests(sock, time.monotonic() + 5)
    assert "ACK" in [m for m, _ in got], got
    target = header(invite, "contact").strip("<>").split(">")[0]
    bye = ("\r\n".join([
        f"BYE {target} SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:{me[1]};branch=z9hG4bK-bye",
        "Max-Forwards: 70", f"From: {header(invite, 'to')};tag=phone",
        f"To: {header(invite, 'from')}", f"Call-ID: {header(invite, 'call-id')}",
        "CSeq: 2 BYE", "Content-Length: 0"]) + "\r\n\r\n").encode()
    sock.sendto(bye, server)
    got = requests(sock, time.monotonic() + 3)
    assert any(raw.startswith(b"SIP/2.0 200") for _, raw in got), got


def test_a_phone_gone_without_unregistering_is_not_rung_until_it_answers_again(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, queue_yaml("""\
    wrapup: 0
    whisper: {wait_time: false, number_name: false}
""") + agents_yaml("201") + f"sip: {{qualify_frequency: {EVERY}, qualify_timeout: {WAIT}}}\n")
    caller = None
    with switchboard(config) as (port, proc):
        with baresip_agent("201", port, tmp_path, password_of("201")) as phone:
            phone.wait_registered(timeout=10)
            # Two rounds of OPTIONS: baresip answers them (else the server logs the phone).
            time.sleep(2 * EVERY + WAIT + 0.5)
            listen = re.search(r"sip_listen 127\.0\.0\.1:(\d+)",
                               (tmp_path / "baresip-201" / "config").read_text())
            assert listen is not None
            phone.proc.kill()  # gone: no un-REGISTER
            phone.proc.wait(5)
        # Its port now belongs to a "phone" that hears everything and answers nothing.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", int(listen.group(1))))
            # The next round finds it silent; the agent goes offline.
            heard = requests(silent, time.monotonic() + EVERY + WAIT + 0.5)
            assert heard and {m for m, _ in heard} == {"OPTIONS"}, heard
            caller = start_caller(port, "100", "+380671110090", tmp_path / "caller.log", 0,
                                  scenario="caller_waits.xml", timeout=40)
            # The caller is answered and waits: 201 is not rung, though registered.
            heard = requests(silent, time.monotonic() + EVERY + 0.5)
            assert "INVITE" not in [m for m, _ in heard], heard
            # Now the phone answers the next OPTIONS: 201 is back and gets the caller.
            deadline = time.monotonic() + 2 * EVERY + 2
            invite = None
            while invite is None and time.monotonic() < deadline:
                for method, raw in requests(silent, min(deadline, time.monotonic() + 0.5)):
                    if method == "OPTIONS":
                        silent.sendto(answer(raw, "200 OK"), ("127.0.0.1", port))
                    elif method == "INVITE":
                        invite = raw
            assert invite is not None, "201 was not rung after its phone answered again"
            assert invite.startswith(b"INVITE sip:201"), invite[:200]  # baresip: 201-0x...@
            answer_then_hang_up(silent, invite, ("127.0.0.1", port))
        try:
            finished(caller, "the caller, hung up by the server", timeout=10)
        finally:
            stop(caller)
        output = drains_at_once(proc)
    # (The test's phone answers no OPTIONS while it takes the call: it may be "gone" again.)
    gone, back = output.find("agent 201 is unreachable"), output.find("agent 201 is reachable")
    assert 0 <= gone < back, output[-3000:]
    assert "did not answer OPTIONS" in output[:gone] and "answered (answered)" in output
