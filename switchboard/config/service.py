"""The settings of the running service: the ``media:`` and ``sip:`` sections.

Owns ``Media`` (which media driver carries the RTP, rtpengine's addresses, the RTP timeouts)
and ``Sip`` (digest algorithms and overload shedding of ``switchboard run``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from switchboard.config.base import Model


class Media(Model):
    """Which media driver carries the RTP, and when silent legs are hung up (docs/media.md)."""

    driver: Literal["inprocess", "rtpengine"] = Field(
        default="inprocess",
        description="inprocess: RTP in switchboard itself; rtpengine: Sipwise rtpengine "
        "(Debian rtpengine-daemon) carries it, driven over its NG protocol",
    )
    rtp_ports: tuple[int, int] = Field(
        default=(20000, 30000), description="RTP port range (also rtpengine's when started)"
    )
    rtpengine: str | None = Field(
        default=None,
        description="host:port of a running rtpengine's NG socket (--listen-ng); none: "
        "switchboard starts its own rtpengine and stops it on exit",
    )
    rtpengine_dtmf: str = Field(
        default="127.0.0.1:0",
        description="host:port where switchboard listens for rtpengine's DTMF log; a running "
        "rtpengine's --dtmf-log-dest must name it (port 0: any, for an rtpengine started by "
        "switchboard)",
    )
    rtpengine_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Worker threads of an rtpengine started by switchboard (--num-threads); "
        "none: rtpengine's default (one per core)",
    )
    rtpengine_recording_dir: str | None = Field(
        default=None,
        description="A running rtpengine's --recording-dir (pcap method), needed for call "
        "recordings; an rtpengine started by switchboard records under --data",
    )

    rtp_timeout: float | None = Field(
        default=60.0,
        gt=0,
        allow_inf_nan=False,
        description="Hang up an answered call leg whose phone or trunk has sent no RTP and no "
        "RTCP for this many seconds: its network or device is gone without a BYE (Asterisk "
        "rtptimeout, rtpengine --timeout). The other party is then treated as hung up by the "
        "routing (a waiting caller counts as abandoned, so a callback can follow); none: never",
    )
    rtp_hold_timeout: float | None = Field(
        default=3600.0,
        gt=0,
        allow_inf_nan=False,
        description="The same for a party that has put the call on hold (re-INVITE sendonly "
        "or inactive): such a phone may rightly send nothing (Asterisk rtpholdtimeout, "
        "rtpengine --silent-timeout); none: never",
    )

    @field_validator("rtpengine", "rtpengine_dtmf")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or int(port) > 65535:
                raise ValueError(f"{value!r} is not host:port (for example 127.0.0.1:2223)")
        return value

    @field_validator("rtp_ports")
    @classmethod
    def _port_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if not 1024 <= lo < hi <= 65535:
            raise ValueError(f"rtp_ports {lo}-{hi}: give two ports, 1024 <= first < last <= 65535")
        return value


DigestAlgorithm = Literal["MD5", "SHA-256"]


class Sip(Model):
    """SIP settings of ``switchboard run``."""

    digest_algorithms: list[DigestAlgorithm] = Field(
        default_factory=lambda: list[DigestAlgorithm](["MD5"]),
        description="Challenges sent to phones, in order. MD5 alone by default: phones on "
        "older SIP libraries (libre 1.1, many desk phones) give up when a 401 also names "
        "SHA-256",
        min_length=1,
    )
    # Overload shedding (docs/sip.md): new out-of-dialog INVITEs beyond these limits get
    # 503 Service Unavailable with Retry-After; calls in progress are always served.
    max_calls: int | None = Field(
        default=None, ge=1,
        description="Concurrent calls (inbound callers) at most; null: no limit "
        "(FreeSWITCH max-sessions, Asterisk maxcalls)",
    )
    max_calls_per_second: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="New calls accepted per second on average, bursts up to one second's "
        "worth; null: no limit (FreeSWITCH sessions-per-second)",
    )
    max_calls_in_setup: int | None = Field(
        default=100, ge=1,
        description="Calls received but not answered and acknowledged yet; more means the "
        "server is behind; null: no limit",
    )
    max_loop_lag: float | None = Field(
        default=0.25, gt=0, allow_inf_nan=False,
        description="Seconds the event loop may run late (it is saturated) before new calls "
        "are refused, for at least a second; null: not watched",
    )
    overload_retry_after: int = Field(
        default=5, ge=1, le=3600,
        description="Retry-After seconds in the 503 that refuses a call under overload",
    )
    tcp_max_connections: int = Field(
        default=512, ge=1, le=100_000,
        description="SIP/TCP connections at once; more are closed as they come (Kamailio "
        "tcp_max_connections)",
    )
    tcp_max_silent: int = Field(
        default=100, ge=1, le=100_000,
        description="Accepted SIP/TCP connections that have not sent a SIP message yet "
        "(Asterisk tcpauthlimit)",
    )
    tcp_silent_timeout: float = Field(
        default=30.0, gt=0, le=3600, allow_inf_nan=False,
        description="Seconds an accepted SIP/TCP connection has to send its first SIP message "
        "(Asterisk tcpauthtimeout)",
    )
    max_contacts: int = Field(
        default=10, ge=1, le=100,
        description="Phones registered at once per agent account; past it the registration "
        "closest to expiry is dropped (Asterisk max_contacts with remove_existing)",
    )
    qualify_frequency: float | None = Field(
        default=None, ge=5, le=3600, allow_inf_nan=False,
        description="Seconds between OPTIONS sent to every registered phone (Asterisk "
        "qualify_frequency): a phone that does not answer within qualify_timeout is not rung "
        "(an agent with no answering phone is offline to the queues) until it answers or "
        "registers again; the requests also keep a NAT's UDP mapping open. null: off",
    )
    qualify_timeout: float = Field(
        default=3.0, gt=0, le=32, allow_inf_nan=False,
        description="Seconds a phone has to answer the qualify OPTIONS (Asterisk "
        "qualify_timeout)",
    )

    @model_validator(mode="after")
    def _qualify_fits(self) -> Sip:
        if self.qualify_frequency is not None and self.qualify_timeout >= self.qualify_frequency:
            raise ValueError(f"qualify_timeout {self.qualify_timeout:g} must be shorter than "
                             f"qualify_frequency {self.qualify_frequency:g}")
        return self
