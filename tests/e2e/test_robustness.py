"""The server under bad conditions: 10 % packet loss both ways, and malformed messages
(RFC 4475 style) sent with a plain UDP socket. Calls must complete, nothing may hang or
crash, and a normal call works afterwards.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .sipp import (
    agents_yaml,
    drains_at_once,
    events,
    finished,
    free_udp_port,
    options_ok,
    register_agent,
    start_agent,
    start_caller,
    stop,
    switchboard,
    write_config,
)

AGENTS = [str(n) for n in range(201, 209)]
QUEUE = agents_yaml(*AGENTS) + f"""\
numbers:
  - {{number: "100", scheme: support}}
schemes:
  support:
    rules:
      - name: everyone
        steps:
          - queue: support
queues:
  support:
    strategy: longest_idle
    members: [{", ".join(f'"{a}"' for a in AGENTS)}]
    ring_timeout: 20
    wrapup: 0
    whisper: {{wait_time: false, number_name: false}}
"""


def test_twenty_calls_with_ten_percent_packet_loss_all_complete_and_leave_nothing_open(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, QUEUE)
    calls = 20
    with switchboard(config) as (port, proc):
        # Eight agent accounts registered on one SIPp UAS, so that callers do not wait long.
        # The agents hang up after 1 s of talk; callers stay until then (caller_waits.xml),
        # so no caller gives up while its agent's phone is still answering under loss.
        agent_port = free_udp_port()
        agents = start_agent("agent_hangs_up.xml", agent_port, tmp_path / "agents.log",
                             "-m", str(calls), "-d", "1000", "-lost", "10", timeout=40)
        callers = None
        try:
            for agent in AGENTS:
                register_agent(agent, port, agent_port)
            callers = start_caller(port, "100", "+380671110041", tmp_path / "callers.log", 0,
                                   "-m", str(calls), "-r", "3", "-l", "10", "-lost", "10",
                                   scenario="caller_waits.xml", timeout=40)
            finished(callers, "callers losing 10 % of packets", timeout=45)
            finished(agents, "agents losing 10 % of packets", timeout=15)
        finally:
            stop(agents, *([callers] if callers else []))
        assert options_ok(port), "the server still answers"
        # Its last BYEs may still await a 200 from a SIPp that already exited: timer F ends
        # those 64*T1 = 32 s after they were sent. Wait that out, then nothing may be left.
        time.sleep(33)
        output = drains_at_once(proc)
    # Nothing hung: the server's own count of what was left open when it stopped.
    stopped = re.search(r"open dialogs (\d+), unfinished transactions (\d+), "
                        r"calls in the core (\d+)", output)
    assert stopped is not None, output[-2000:]
    assert stopped.groups() == ("0", "0", "0"), stopped.group(0)
    assert len(events(tmp_path / "agents.log", "invite")) == calls
    assert len(events(tmp_path / "callers.log", "bye")) == calls


def test_the_caller_gets_no_bye_before_it_acknowledged_the_200(tmp_path: Path) -> None:
    """RFC 3261 §15: a UAS must not send BYE on a dialog before the ACK of its 2xx (or
    before that transaction timed out). Under loss the caller's ACK, or the 200 itself, may
    be late; the BYE must wait for it. The caller here is a plain socket whose ACK is late."""
    config = write_config(tmp_path, QUEUE)
    agent_log = tmp_path / "agent.log"
    with switchboard(config) as (port, proc):
        agent_port = free_udp_port()
        agent = start_agent("agent_hangs_up.xml", agent_port, agent_log, "-m", "1",
                            "-d", "200")
        try:
            register_agent("201", port, agent_port)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                me = s.getsockname()[1]
                invite = _request("INVITE", body=SDP.format(
                    payloads="0", rtpmap="a=rtpmap:0 PCMU/8000"))
                invite = invite.replace(b"{me}", str(me).encode()).replace(
                    b"{port}", str(port).encode()).replace(b"{n}", b"late-ack")
                s.sendto(invite, ("127.0.0.1", port))
                # Answered (music), bridged to 201, who hangs up after 0.2 s: no ACK yet.
                early = _collect(s, seconds=2.0)
                assert events(agent_log, "bye"), "the agent hung up meanwhile"
                assert any(m.startswith(b"SIP/2.0 200") for m in early), early
                assert not [m for m in early if m.startswith(b"BYE ")], (
                    "BYE sent before the caller's ACK")
                ok = next(m for m in early if m.startswith(b"SIP/2.0 200"))
                s.sendto(_ack_for(invite, ok), ("127.0.0.1", port))
                byes = [m for m in _collect(s, seconds=1.0) if m.startswith(b"BYE ")]
                assert byes, "after the ACK, the BYE comes"
                s.sendto(_ok_for(byes[0]), ("127.0.0.1", port))
            finished(agent, "agent who hangs up", timeout=5)
        finally:
            stop(agent)
        drains_at_once(proc)


def test_a_retransmitted_200_from_an_agent_gets_the_same_ack_again(tmp_path: Path) -> None:
    """Under loss a phone's 200 is resent while our ACK is on its way; the ACK sent again
    must be the same request (RFC 3261 §13.2.2.4: a retransmission), not a new one with a
    new branch, which a phone may take for an unexpected request (SIPp aborts the call).
    The agent here is a plain socket registered by SIPp; it sends its 200 twice."""
    config = write_config(tmp_path, QUEUE)
    with switchboard(config) as (port, proc), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        register_agent("201", port, phone.getsockname()[1])
        caller = start_caller(port, "100", "+380671110061", tmp_path / "caller.log", 1000)
        try:
            invite = _next_request(phone, b"INVITE", seconds=5)
            contact = f"sip:201@127.0.0.1:{phone.getsockname()[1]}".encode()
            ok = _ok_for(invite, to_tag=b"phone1", contact=contact, sdp=SDP.format(
                payloads="0", rtpmap="a=rtpmap:0 PCMU/8000").encode())
            phone.sendto(ok, ("127.0.0.1", port))
            first_ack = _next_request(phone, b"ACK", seconds=2)
            phone.sendto(ok, ("127.0.0.1", port))  # the 200 again, as if it crossed the ACK
            second_ack = _next_request(phone, b"ACK", seconds=2)
            assert _header(second_ack, b"Via") == _header(first_ack, b"Via"), (
                "the ACK of a retransmitted 200 is the same ACK")
            assert second_ack == first_ack
            bye = _next_request(phone, b"BYE", seconds=5)  # the caller hangs up after 1 s
            phone.sendto(_ok_for(bye), ("127.0.0.1", port))
            finished(caller, "caller", timeout=5)
        finally:
            stop(caller)
        drains_at_once(proc)


def _next_request(s: socket.socket, method: bytes, seconds: float) -> bytes:
    """The next ``method`` request arriving on ``s`` within ``seconds`` (others skipped)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            message = s.recv(65535)
        except TimeoutError:
            break
        if message.startswith(method + b" "):
            return message
    raise AssertionError(f"no {method.decode()} within {seconds} s")


def _collect(s: socket.socket, seconds: float) -> list[bytes]:
    """Every datagram that arrives on ``s`` within ``seconds``."""
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            got.append(s.recv(65535))
        except TimeoutError:
            break
    return got


def _header(message: bytes, name: bytes) -> bytes:
    m = re.search(rb"^" + name + rb":[^\r]*", message, re.M | re.I)
    assert m is not None, f"no {name!r} in {message!r}"
    return m.group(0)


def _ack_for(invite: bytes, ok: bytes) -> bytes:
    """The ACK of a 2xx: our INVITE's headers, the To (with tag) of the 200."""
    head = invite.split(b"\r\n\r\n")[0]
    head = re.sub(rb"^INVITE ", b"ACK ", head)
    head = head.replace(_header(head, b"To"), _header(ok, b"To"))
    head = re.sub(rb"CSeq: 1 INVITE", b"CSeq: 1 ACK", head)
    head = re.sub(rb"Content-Type: [^\r]*\r\n", b"", head)
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: 0", head)
    return head + b"\r\n\r\n"


def _ok_for(request: bytes, to_tag: bytes | None = None, contact: bytes | None = None,
           sdp: bytes = b"") -> bytes:
    """A 200 OK to a request: its Via, From, To (tagged ``to_tag``), Call-ID and CSeq."""
    lines = [b"SIP/2.0 200 OK"]
    lines += [_header(request, name) for name in (b"Via", b"From", b"To", b"Call-ID", b"CSeq")]
    if to_tag is not None:
        lines[3] += b";tag=" + to_tag
    if contact is not None:
        lines.append(b"Contact: <" + contact + b">")
    if sdp:
        lines.append(b"Content-Type: application/sdp")
    lines.append(b"Content-Length: " + str(len(sdp)).encode())
    return b"\r\n".join([*lines, b"", b""]) + sdp


# ----------------------------------------------------------------------------- malformed


@dataclass(frozen=True)
class Case:
    name: str
    message: bytes  # {me}: our port, {port}: the server's, {n}: unique per case
    answers: frozenset[int | None]  # acceptable final answers; None: silence


def _msg(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def _request(method: str = "OPTIONS", *, first: str | None = None, drop: tuple[str, ...] = (),
             extra: str = "", body: str = "", length: str | None = None,
             cseq: str | None = None) -> bytes:
    headers = {
        "Via": "SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-bad{n};rport",
        "Max-Forwards": "70",
        "From": "<sip:+380671110050@127.0.0.1>;tag=bad{n}",
        "To": "<sip:100@127.0.0.1:{port}>",
        "Call-ID": "bad-{n}@127.0.0.1",
        "CSeq": cseq or f"1 {method}",
        "Contact": "<sip:+380671110050@127.0.0.1:{me}>",
    }
    lines = [first or f"{method} sip:100@127.0.0.1:{{port}} SIP/2.0"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in drop]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode()) if length is None else length}")
    return _msg("\n".join(lines) + "\n\n") + body.encode()


SDP = """v=0
o=caller 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP {payloads}
{rtpmap}
"""

CASES = [
    Case("Content-Length larger than the body",
         _request(body="v=0\r\n", length="500"), frozenset({400})),
    Case("negative Content-Length", _request(length="-5"), frozenset({400})),
    Case("non-numeric Content-Length", _request(length="five"), frozenset({400})),
    Case("two different Content-Lengths",
         _request(extra="Content-Length: 12"), frozenset({400})),
    # RFC 4475 3.1.2.18 asks for a 400; a response without Call-ID or CSeq is hard to build.
    Case("no Call-ID", _request(drop=("Call-ID",)), frozenset({400, None})),
    Case("no CSeq", _request(drop=("CSeq",)), frozenset({400, None})),
    Case("no Via (nowhere to answer)", _request(drop=("Via",)), frozenset({None})),
    Case("CSeq method differs from the request's", _request(cseq="1 INVITE"),
         frozenset({400})),
    Case("CSeq number too large (RFC 4475 3.1.2.4)",
         _request(cseq="36893488147419103232 OPTIONS"), frozenset({400})),
    Case("Max-Forwards over 255", _request().replace(b"Max-Forwards: 70", b"Max-Forwards: 300"),
         frozenset({400})),
    Case("a 20 kB header", _request(extra="Subject: " + "x" * 20000), frozenset({400, 513})),
    Case("150 headers", _request(extra="\n".join(f"X-Filler-{i}: {i}" for i in range(150))),
         frozenset({400, 513})),
    Case("unterminated quoted display name",
         _request().replace(b"From: <sip:", b'From: "Unterminated <sip:'), frozenset({400})),
    Case("SIP/7.0 (RFC 4475 3.1.2.16)",
         _request(first="OPTIONS sip:100@127.0.0.1:{port} SIP/7.0"), frozenset({505})),
    Case("unknown method",
         _request("FROB", first="FROB sip:100@127.0.0.1:{port} SIP/2.0"), frozenset({501})),
    Case("INVITE with garbage for SDP", _request("INVITE", body="this is not SDP\x01\x02\r\n"),
         frozenset({400, 488})),
    Case("INVITE whose SDP offers only G.729",
         _request("INVITE", body=SDP.format(payloads="18", rtpmap="a=rtpmap:18 G729/8000")),
         frozenset({488})),
    Case("INVITE whose Contact lacks its '>' (parsed when the dialog is made)",
         _request("INVITE", body=SDP.format(payloads="0", rtpmap="a=rtpmap:0 PCMU/8000"))
         .replace(b"Contact: <sip:+380671110050@127.0.0.1:{me}>",
                  b"Contact: <sip:+380671110050@127.0.0.1:{me}"), frozenset({400})),
    Case("REGISTER whose Authorization has no response (parsed when checked)",
         _request("REGISTER", extra='Authorization: Digest username="201"')
         .replace(b"To: <sip:100@", b"To: <sip:201@"), frozenset({400})),
    Case("INVITE that requires an extension (100rel)",
         _request("INVITE", extra="Require: 100rel",
                  body=SDP.format(payloads="0", rtpmap="a=rtpmap:0 PCMU/8000")),
         frozenset({420})),
    Case("binary noise", bytes(range(256)) * 4, frozenset({None})),
    Case("a SIP-looking line and noise", b"INVITE \xff\xfe\x00 SIP/2.0\r\n\x00\x01",
         frozenset({None})),
    Case("empty keep-alive", b"\r\n\r\n", frozenset({None})),
    Case("a response to nothing",
         _msg("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-none{n}\n"
              "From: <sip:a@127.0.0.1>;tag=1\nTo: <sip:b@127.0.0.1>;tag=2\n"
              "Call-ID: none-{n}@127.0.0.1\nCSeq: 1 INVITE\nContent-Length: 0\n\n"),
         frozenset({None})),
]

_STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")
_TO = re.compile(rb"^(?:To|t):.*$", re.M | re.I)


def _exchange(port: int, case: Case, n: int, silence: float = 0.3) -> int | None:
    """Send the case from a fresh socket; its final answer (ACKed if to an INVITE), or
    None when nothing but provisional answers came within ``silence`` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        me = s.getsockname()[1]
        data = case.message
        for key, value in ((b"{me}", me), (b"{port}", port), (b"{n}", n)):
            data = data.replace(key, str(value).encode())
        s.sendto(data, ("127.0.0.1", port))
        deadline = time.monotonic() + silence
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                answer = s.recv(65535)
            except TimeoutError:
                break
            m = _STATUS.match(answer)
            assert m is not None, f"{case.name}: not a SIP response: {answer[:200]!r}"
            status = int(m.group(1))
            if status < 200:
                deadline = time.monotonic() + 5  # provisional: the final answer follows
                continue
            if data.startswith(b"INVITE"):
                to = _TO.search(answer)
                assert to is not None
                ack = re.sub(rb"^INVITE ", b"ACK ", data.split(b"\r\n\r\n")[0])
                ack = _TO.sub(to.group(0).replace(b"\\", b"\\\\"), ack)
                ack = re.sub(rb"CSeq: 1 INVITE", b"CSeq: 1 ACK", ack)
                ack = re.sub(rb"Content-Length: \d+", b"Content-Length: 0", ack)
                ack = re.sub(rb"Content-Type: [^\r]*\r\n", b"", ack)
                s.sendto(ack + b"\r\n\r\n", ("127.0.0.1", port))
            return status
    return None


def test_malformed_messages_get_the_right_answer_or_silence_and_calls_still_work(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, QUEUE)
    with switchboard(config) as (port, proc):
        wrong = []
        for n, case in enumerate(CASES):
            answer = _exchange(port, case, n)
            if answer not in case.answers:
                wrong.append(f"{case.name}: got {answer}, expected one of "
                             f"{sorted(case.answers, key=str)}")
            assert proc.poll() is None, f"the server died on: {case.name}"
        assert not wrong, "\n".join(wrong)
        assert options_ok(port), "the server still answers after the malformed messages"
        _a_normal_call_works(port, tmp_path)
        output = drains_at_once(proc)
    assert "Traceback" not in output


def _a_normal_call_works(port: int, tmp: Path) -> None:
    agent_port = free_udp_port()
    agent = start_agent("agent_answers.xml", agent_port, tmp / "agent.log", "-m", "1")
    caller: subprocess.Popen[str] | None = None
    try:
        register_agent("201", port, agent_port)
        caller = start_caller(port, "100", "+380671110051", tmp / "caller.log", 500)
        finished(caller, "a normal caller after the malformed messages")
        finished(agent, "its agent", timeout=5)
    finally:
        stop(agent, *([caller] if caller else []))
