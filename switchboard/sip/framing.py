"""Stream framing (RFC 3261 §18.3): cut a TCP/TLS byte stream into SIP messages. No IO.

``StreamFramer`` finds where each message ends (end of headers plus Content-Length) and
hands the raw frames to ``switchboard.sip.message.parse``; RFC 5626 keep-alive pings come
out as ``KEEPALIVE``.
"""

from __future__ import annotations

import re
from typing import Final

from switchboard.sip.headers import SipParseError
from switchboard.sip.message import DEFAULT_LIMITS, Limits

KEEPALIVE: Final = b"\r\n\r\n"
_CONTENT_LENGTH_RE: Final = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,10})[ \t]*\r?$", re.I | re.M
)


class StreamFramer:
    """Cuts a TCP/TLS byte stream into raw messages for ``parse`` (RFC 3261 §18.3).

    ``feed`` returns completed frames; an RFC 5626 ping (CRLFCRLF) comes out as
    ``KEEPALIVE`` (answer it with a single CRLF). A ``SipParseError`` means the stream
    cannot be re-synchronised: close the connection.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._buf = bytearray()
        self._limits = limits
        # What is known of the message at the front, so that a peer sending a byte at a time
        # does not make each feed scan the whole buffer again (quadratic): how many bytes
        # hold no end of headers, and the frame's size once its headers are read (0: not yet).
        self._scanned = 0
        self._total = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames they complete."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while buf:
            if buf.startswith(KEEPALIVE):
                out.append(KEEPALIVE)
                del buf[:4]
                continue
            if buf.startswith(b"\r\n"):
                if len(buf) < 4 and KEEPALIVE.startswith(bytes(buf)):
                    break  # maybe the start of a ping
                del buf[:2]  # stray CRLF (or a pong)
                continue
            total = self._total
            if not total:
                end = buf.find(KEEPALIVE, max(0, self._scanned - 3))
                if end < 0:
                    if len(buf) > self._limits.max_message_size:
                        raise SipParseError("headers never end", 513)
                    self._scanned = len(buf)
                    break
                head = bytes(buf[:end])
                lengths = set(_CONTENT_LENGTH_RE.findall(head))
                if len(lengths) != 1:
                    raise SipParseError("stream message without one valid Content-Length", 400)
                total = end + 4 + int(lengths.pop())
                if total > self._limits.max_message_size:
                    raise SipParseError("message too large", 513)
                self._total = total
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
            self._scanned = self._total = 0
        return out

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a message."""
        return len(self._buf)
