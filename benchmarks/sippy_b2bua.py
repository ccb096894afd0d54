"""The peer for ``bench_sip.py``: a minimal B2BUA on the ``sippy`` package (PyPI).

    python benchmarks/sippy_b2bua.py --port 5070 --uas 127.0.0.1:5080

Every INVITE it receives becomes a second call to the fixed SIPp UAS at ``--uas``; the two
user agents are joined by sippy's call-control events, so the answer, the ACK and the BYE (from
either side) are relayed. It is the shape of ``b2bua_simple.py`` in sippy's repository, less
registration and daemonising: one ``UA`` per leg, ``SipTransactionManager`` on UDP, sippy's
event dispatcher. SDP goes through untouched and there is no RTP relay (the SIPp peers send
no RTP). It answers OPTIONS with 200 so the benchmark can tell when it is up, and stops on
SIGTERM or SIGINT. Per-message logging is off (``SIPLOG_BEND=none``) as in switchboard.
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any

# sippy reads its logging choice when a SipLogger is made: set it before anything logs.
os.environ.setdefault("SIPLOG_BEND", "none")

from sippy.CCEvents import CCEventDisconnect, CCEventTry
from sippy.Core.EventDispatcher import ED2
from sippy.SipConf import SipConf
from sippy.SipLogger import SipLogger
from sippy.SipTransactionManager import SipTransactionManager
from sippy.UA import UA


class RelayedCall:
    """One call: the caller's leg (``inbound``) and the leg to the UAS (``outbound``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.inbound = UA(config, self.on_event)
        self.outbound: UA | None = None

    def on_event(self, event: Any, ua: UA) -> None:
        """sippy calls this with each call-control event of either leg: pass it across."""
        if ua is not self.inbound:
            self.inbound.recvEvent(event)
            return
        if self.outbound is None:
            if not isinstance(event, CCEventTry):  # only a new INVITE opens the second leg
                self.inbound.recvEvent(CCEventDisconnect())
                return
            self.outbound = UA(
                self.config, event_cb=self.on_event, nh_address=self.config["nh_addr"]
            )
        self.outbound.recvEvent(event)


class Relay:
    """What the transaction manager hands requests outside any dialog to."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_request(self, req: Any, sip_t: Any) -> tuple[Any, Any, Any]:
        if req.getHFBody("to").getTag() is not None:  # in a dialog we do not know
            return (req.genResponse(481, "Call Leg/Transaction Does Not Exist"), None, None)
        method = req.getMethod()
        if method == "INVITE":
            return RelayedCall(self.config).inbound.recvRequest(req, sip_t)  # type: ignore[no-any-return]
        if method == "OPTIONS":
            return (req.genResponse(200, "OK"), None, None)
        return (req.genResponse(501, "Not Implemented"), None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5070, help="SIP port (UDP)")
    parser.add_argument("--uas", default="127.0.0.1:5080", help="host:port every call goes to")
    args = parser.parse_args()
    uas_host, _, uas_port = args.uas.rpartition(":")

    SipConf.my_uaname = "sippy minimal B2BUA"
    SipConf.allow_formats = (0, 8, 18, 100, 101)
    config: dict[str, Any] = {
        "nh_addr": (uas_host, int(uas_port)),
        "_sip_address": args.host,
        "_sip_port": args.port,
        "_sip_logger": SipLogger("sippy_b2bua"),
    }
    relay = Relay(config)
    config["_sip_tm"] = SipTransactionManager(config, relay.on_request)
    # The dispatcher runs signal callbacks on its own loop, between events.
    for signum in (signal.SIGTERM, signal.SIGINT):
        ED2.regSignal(signum, lambda *_: ED2.breakLoop())
    print(f"sippy B2BUA on {args.host}:{args.port} -> {args.uas}", flush=True)
    ED2.loop()


if __name__ == "__main__":
    main()
