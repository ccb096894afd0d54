"""rtpengine's NG control protocol: bencoded dictionaries over UDP, each behind a cookie.

A request is ``COOKIE SPACE BENCODE``; the answer repeats the cookie. rtpengine keeps the
answers to recent cookies, so a request whose answer was lost is simply sent again with the
same cookie (``NgClient.request`` does, ``retries`` times, ``timeout`` seconds apart).

Bencode is small enough to own (no maintained PyPI package speaks bytes both ways): integers
``i42e``, byte strings ``4:spam``, lists ``l...e`` and dictionaries ``d...e`` with keys sorted.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Mapping, Sequence
from typing import TypeAlias

__all__ = ["BencodeError", "NgClient", "NgError", "NgRefused", "bdecode", "bencode"]

#: What bencode carries: ints, byte strings, lists and dictionaries of them (keys: str).
Value: TypeAlias = int | bytes | str | Sequence["Value"] | Mapping[str, "Value"]


class BencodeError(ValueError):
    """Bytes that are not one well-formed bencoded value."""


class NgError(RuntimeError):
    """rtpengine answered ``result: error`` (``reason`` says why) or did not answer."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"rtpengine {command}: {reason}")
        self.command = command
        self.reason = reason


class NgRefused(NgError):
    """rtpengine answered, and the answer was ``result: error`` (an unknown call-id, a bad
    request): rtpengine is up, unlike when it does not answer at all."""


def bencode(value: Value) -> bytes:
    """One value, bencoded (str is sent as UTF-8; bool is refused, as bencode has none)."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: Value, out: bytearray) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans; send 'yes'/'no' or 1/0")
    if isinstance(value, int):
        out += b"i%de" % value
    elif isinstance(value, (bytes, str)):
        data = value.encode() if isinstance(value, str) else value
        out += b"%d:" % len(data)
        out += data
    elif isinstance(value, Mapping):
        out += b"d"
        for key in sorted(value):
            _encode(key, out)
            _encode(value[key], out)
        out += b"e"
    elif isinstance(value, Sequence):
        out += b"l"
        for item in value:
            _encode(item, out)
        out += b"e"
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> object:
    """The one value ``data`` holds: ints, bytes, lists, and dicts with str keys."""
    try:
        value, end = _decode(data, 0, 0)
    except (IndexError, ValueError) as error:
        raise BencodeError(f"not bencode: {error}") from None
    if end != len(data):
        raise BencodeError(f"{len(data) - end} bytes after the value")
    return value


_MAX_DEPTH = 32


def _decode(data: bytes, at: int, depth: int) -> tuple[object, int]:
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    kind = data[at : at + 1]
    if kind == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1 : end]), end + 1
    if kind == b"l":
        items: list[object] = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at, depth + 1)
            items.append(item)
        return items, at + 1
    if kind == b"d":
        mapping: dict[str, object] = {}
        at += 1
        while data[at : at + 1] != b"e":
            key, at = _decode(data, at, depth + 1)
            if not isinstance(key, bytes):
                raise ValueError("a dictionary key that is not a string")
            mapping[key.decode("utf-8", "replace")], at = _decode(data, at, depth + 1)
        return mapping, at + 1
    if kind.isdigit():
        colon = data.index(b":", at)
        size = int(data[at:colon])
        if colon + 1 + size > len(data):
            raise ValueError("a string longer than the data")
        return data[colon + 1 : colon + 1 + size], colon + 1 + size
    raise ValueError(f"unexpected byte {kind!r} at {at}")


class _NgProtocol(asyncio.DatagramProtocol):
    def __init__(self, client: NgClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.client._answer(data)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: retried/timed out
        pass


class NgClient:
    """Talks NG to one rtpengine over UDP. ``await start()`` before ``request``.

    An rtpengine that leaves a request unanswered (``retries`` x ``timeout`` seconds) is
    not asked again for ``disable_for`` seconds: requests meanwhile fail at once, and the
    next one after that is the probe (Kamailio's rtpengine module does the same with
    ``rtpengine_disable_tout``). Without it, every call's media request would wait out the
    timeouts of a dead rtpengine one after another.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 1.0, retries: int = 3,
                 disable_for: float = 5.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.retries = retries
        self.disable_for = disable_for
        self.disabled_until = 0.0  # loop time; requests before it fail without being sent
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[bytes, asyncio.Future[dict[str, object]]] = {}
        self._prefix = os.urandom(4).hex()
        self._counter = itertools.count(1)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _NgProtocol(self), remote_addr=self.address
        )
        self._transport = transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()

    async def request(self, command: Mapping[str, Value]) -> dict[str, object]:
        """Send one command; its answer, or ``NgError`` (an error answer, or none at all)."""
        name = str(command.get("command", "?"))
        if self._transport is None:
            raise NgError(name, "not connected")
        loop = asyncio.get_running_loop()
        left = self.disabled_until - loop.time()
        if left > 0:
            host, port = self.address
            raise NgError(name, f"{host}:{port} did not answer; not asked again for {left:.1f} s")
        cookie = f"{self._prefix}_{next(self._counter)}".encode()
        payload = cookie + b" " + bencode(command)
        future: asyncio.Future[dict[str, object]] = loop.create_future()
        self._pending[cookie] = future
        try:
            for _ in range(self.retries):
                self._transport.sendto(payload)
                try:
                    answer = await asyncio.wait_for(asyncio.shield(future), self.timeout)
                    break
                except TimeoutError:
                    continue
            else:
                self.disabled_until = loop.time() + self.disable_for
                raise NgError(name, f"no answer from {self.address[0]}:{self.address[1]}")
        finally:
            self._pending.pop(cookie, None)
        result = answer.get("result")
        if result == b"error":
            reason = answer.get("error-reason", b"?")
            raise NgRefused(name, reason.decode() if isinstance(reason, bytes) else str(reason))
        return answer

    def _answer(self, data: bytes) -> None:
        cookie, _, body = data.partition(b" ")
        future = self._pending.get(cookie)
        if future is None or future.done():
            return  # a late duplicate, or not ours
        try:
            answer = bdecode(body)
        except BencodeError as error:
            future.set_exception(NgError("?", f"garbled answer: {error}"))
            return
        if not isinstance(answer, dict):
            future.set_exception(NgError("?", "an answer that is not a dictionary"))
            return
        future.set_result(answer)
