"""The server's sockets on 127.0.0.1: buffers as large as asked or a warning that says which
kernel limit to raise, and SIP over a TCP connection we open keeping the order of messages
sent while it is still opening (a CANCEL must not overtake its INVITE)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from switchboard.runtime.server import _SipTcp, raise_buffers


def test_buffers_the_kernel_grants_pass_quietly_and_a_cap_is_named(
        caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with caplog.at_level(logging.WARNING):
            assert raise_buffers(sock, "SIP", 64 * 1024)
        assert caplog.records == []
        with open("/proc/sys/net/core/rmem_max") as f:
            rmem_max = int(f.read())
        with caplog.at_level(logging.WARNING):
            assert not raise_buffers(sock, "SIP", rmem_max + 1024 * 1024)
        assert "net.core.rmem_max" in caplog.text


def test_messages_sent_while_a_tcp_connection_opens_go_on_it_in_order() -> None:
    async def scenario() -> None:
        received = bytearray()
        connections = 0
        done = asyncio.Event()

        async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            while chunk := await reader.read(65536):
                received.extend(chunk)
                if received.count(b"\r\n\r\n") == 3:
                    done.set()
            writer.close()

        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tcp = _SipTcp()
        for name in (b"INVITE", b"CANCEL", b"BYE"):  # before the connection is open
            tcp.send(name + b" sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", port))
        await asyncio.wait_for(done.wait(), 5)
        assert connections == 1
        assert [line.split(b" ")[0] for line in received.split(b"\r\n\r\n")[:3]] == [
            b"INVITE", b"CANCEL", b"BYE"]
        for writer in tcp.writers.values():
            writer.close()
        for task in list(tcp.tasks):
            task.cancel()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
