"""SIP message parsing: switchboard's parser against sippy's, on the same messages, in one run.

    python benchmarks/bench_sip_parse.py [--calls 5000] [--rounds 3]

The messages are what switchboard receives for one call of benchmarks/bench_sip.py: the
caller's INVITE (with SDP), ACK and BYE, and the agent's 100, 180 and 200 to the INVITE and
200 to the BYE, with new tags, branches and Call-IDs for every call. Each parser parses each
message and reads what a B2BUA reads of it: the top Via's branch, the From and To tags, the
CSeq, the Call-ID and the Contact's user, host and port. Both must read the same values (checked
before timing). Each round starts with switchboard's caches of parsed values empty, so only
what a call repeats within itself is parsed once. Prints microseconds per message for both
and ``ratio: X`` (sippy's time over switchboard's: above 1, switchboard parses faster).
switchboard's parser also validates what it reads (RFC 3261 grammar, required headers,
Content-Length), which sippy's does not.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table
from sippy.SipRequest import SipRequest  # type: ignore[import-untyped]
from sippy.SipResponse import SipResponse  # type: ignore[import-untyped]

from switchboard.sip import headers
from switchboard.sip.message import Request, Response, parse

Contact = tuple[str | None, str, int | None]  # user, host, port
Fields = tuple[str | None, str | None, str | None, int, str, str, Contact]

SDP = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def one_call(n: int) -> list[bytes]:
    """The seven messages switchboard receives for call ``n``."""
    tag, call_id, branch = f"{n}SIPpTag00{n}", f"{n}-4711@127.0.0.1", f"z9hG4bK-4711-{n}-0"
    caller = (
        "Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch};rport\r\n"
        f'From: "sipp" <sip:sipp@127.0.0.1:5061>;tag={tag}\r\n'
        "To: <sip:100@127.0.0.1:5060>{to_tag}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {{cseq}}\r\nContact: sip:sipp@127.0.0.1:5061\r\n"
        "Max-Forwards: 70\r\n"
    )
    invite = (
        "INVITE sip:100@127.0.0.1:5060 SIP/2.0\r\n"
        + caller.format(branch=branch, to_tag="", cseq="1 INVITE")
        + f"Subject: Performance Test\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n"
    ).encode() + SDP
    in_dialog = [
        (
            f"{method} sip:100@127.0.0.1:5060 SIP/2.0\r\n"
            + caller.format(branch=f"{branch}{suffix}", to_tag=f";tag=sb-{n}", cseq=cseq)
            + "Content-Length: 0\r\n\r\n"
        ).encode()
        for method, suffix, cseq in (("ACK", "a", "1 ACK"), ("BYE", "b", "2 BYE"))
    ]
    agent_tag, agent_call, agent_branch = f"sb-a{n}", f"sb-c{n}@127.0.0.1", f"z9hG4bK.sb{n}"

    def response(status: str, cseq: str, to_tag: bool, branch: str = agent_branch) -> bytes:
        return (
            f"SIP/2.0 {status}\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport=5060;received=127.0.0.1\r\n"
            f"From: <sip:100@127.0.0.1:5060>;tag={agent_tag}\r\n"
            "To: <sip:7001@127.0.0.1:5062>" + (f";tag={n}SIPpTag01" if to_tag else "") + "\r\n"
            f"Call-ID: {agent_call}\r\nCSeq: {cseq}\r\n"
            "Contact: <sip:127.0.0.1:5062;transport=UDP>\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    return [
        invite,
        *in_dialog,
        response("100 Trying", "1 INVITE", False),
        response("180 Ringing", "1 INVITE", True),
        response("200 OK", "1 INVITE", True),
        response("200 OK", "2 BYE", True, branch=f"{agent_branch}b"),
    ]


def switchboard_reads(data: bytes) -> Fields:
    msg: Request | Response = parse(data)
    contact = msg.contacts[0].uri
    return (
        msg.via.branch, msg.from_.tag, msg.to.tag, msg.cseq.seq, msg.cseq.method, msg.call_id,
        (contact.user, contact.host, contact.port),
    )  # fmt: skip


def sippy_reads(data: bytes) -> Fields:
    text = data.decode()
    msg = SipResponse(buf=text) if text.startswith("SIP/2.0 ") else SipRequest(buf=text)
    cseq = msg.getHFBody("cseq")
    contact = msg.getHFBody("contact").getUrl()
    return (
        msg.getHFBody("via").getBranch(), msg.getHFBody("from").getTag(),
        msg.getHFBody("to").getTag(), cseq.getCSeqNum(), cseq.getCSeqMethod(),
        str(msg.getHFBody("call-id")), (contact.username, contact.host, contact.port),
    )  # fmt: skip


def forget_parsed() -> None:
    """Empty switchboard's caches of parsed header values, so that a round reuses only what a
    call repeats within itself, never what an earlier round (or the check) parsed."""
    for cached in (headers._params_cached, headers._uri, headers._address,
                   headers._parse_via, headers._parse_cseq):  # fmt: skip
        cached.cache_clear()


def timed(reads: Callable[[bytes], Fields], calls: list[list[bytes]]) -> float:
    """Seconds to parse and read every message of every call once."""
    forget_parsed()
    started = time.perf_counter()
    for messages in calls:
        for data in messages:
            reads(data)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="the best of this many")
    args = parser.parse_args()
    calls = [one_call(n) for n in range(args.calls)]
    for messages in calls[:50]:
        for data in messages:
            ours, theirs = switchboard_reads(data), sippy_reads(data)
            if ours != theirs:
                raise SystemExit(f"the parsers disagree on\n{data.decode()}\n{ours}\n{theirs}")
    best = {"switchboard": float("inf"), "sippy": float("inf")}
    for _ in range(args.rounds):  # interleaved, so that both see the same machine
        best["switchboard"] = min(best["switchboard"], timed(switchboard_reads, calls))
        best["sippy"] = min(best["sippy"], timed(sippy_reads, calls))
    count = sum(len(messages) for messages in calls)
    table = Table(title=f"{count:,} messages ({args.calls:,} calls), best of {args.rounds}")
    for column in ("parser", "µs per message", "messages/s"):
        table.add_column(column, justify="right" if column != "parser" else "left")
    for name, seconds in best.items():
        table.add_row(name, f"{1e6 * seconds / count:.1f}", f"{count / seconds:,.0f}")
    Console().print(table)
    print(f"ratio: {best['sippy'] / best['switchboard']:.2f}")


if __name__ == "__main__":
    main()
