"""A tiny real HTTP/1.1 server on 127.0.0.1 for the integration tests (no extra packages).

It runs on the test's own event loop (``asyncio.start_server``), records every request it
got, and answers each with what ``respond`` says: a status, a body, an optional delay. One
request per connection (``Connection: close``) keeps the parsing small; httpx copes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_REASONS = {200: "OK", 201: "Created", 204: "No Content", 302: "Found", 400: "Bad Request",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Seen:
    """A request as the server received it. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """What to reply: ``body`` as bytes/str is sent as is, anything else as JSON."""

    status: int = 200
    body: object = b""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # no Content-Length: the client cannot know the size up front
    drip: float = 0.0  # after the head, send the body one byte every ``drip`` seconds
    reset_after: int | None = None  # send this many body bytes, then reset the connection

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


def in_turn(*answers: Answer) -> Callable[[Seen], Answer]:
    """Answer with each in turn, then keep repeating the last."""
    left = list(answers)

    def respond(_: Seen) -> Answer:
        return left.pop(0) if len(left) > 1 else left[0]

    return respond


def always(answer: Answer) -> Callable[[Seen], Answer]:
    return lambda _: answer


class TinyHttp:
    """``async with TinyHttp(respond) as server:`` serves on ``server.url`` until the end."""

    def __init__(self, respond: Callable[[Seen], Answer]) -> None:
        self.respond = respond
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TinyHttp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        # Python 3.11's wait_closed does not wait for (or stop) open connections: a slow
        # handler would outlive the test, so cancel them.
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            seen = await _read_request(reader)
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                answer = self.respond(seen)
                if answer.delay:
                    await asyncio.sleep(answer.delay)
            finally:
                self.in_flight -= 1
            body, content_type = answer.encoded()
            head = [f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Status')}",
                    "Connection: close"]
            if answer.chunked:
                head.append("Transfer-Encoding: chunked")
                body = _chunks(body)
            else:
                head.append(f"Content-Length: {len(body)}")
            headers = {"Content-Type": content_type, **answer.headers}
            head += [f"{name}: {value}" for name, value in headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            if answer.reset_after is not None:
                writer.write(body[:answer.reset_after])
                await writer.drain()
                _reset(writer)
                return
            if answer.drip:
                for byte in body:
                    await asyncio.sleep(answer.drip)
                    writer.write(bytes([byte]))
                    await writer.drain()
            else:
                writer.write(body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up (timeout tests): nothing to answer
        except asyncio.CancelledError:
            # Stopped by __aexit__. Ending normally: Python 3.11's start_server callback
            # calls exception() on the task and logs a CancelledError traceback otherwise.
            pass
        finally:
            writer.close()
            self._handlers.discard(task)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN: linger on, zero seconds."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _chunks(body: bytes, size: int = 4096) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                   for part in (body[i:i + size] for i in range(0, len(body), size)))
    return out + b"0\r\n\r\n"


async def _read_request(reader: asyncio.StreamReader) -> Seen:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    parts = urlsplit(target)
    return Seen(method, parts.path, dict(parse_qsl(parts.query)), headers, body)


def closed_port() -> int:
    """A 127.0.0.1 port with nobody listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
