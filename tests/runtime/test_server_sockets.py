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


MESSAGE = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server closes the connection (EOF) within ``within`` seconds."""
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), within)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_a_tcp_connection_that_sends_no_sip_message_is_closed_after_the_timeout() -> None:
    """Silent connections (a slowloris, a port scan left open) would hold file descriptors
    the calls' media needs. Keep-alives are not a message; one SIP message is enough."""
    async def scenario() -> None:
        tcp = _SipTcp(silent_timeout=0.3)
        server = await asyncio.start_server(tcp.accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        quiet = await asyncio.open_connection("127.0.0.1", port)
        pinging = await asyncio.open_connection("127.0.0.1", port)
        talking = await asyncio.open_connection("127.0.0.1", port)
        talking[1].write(MESSAGE)
        for _ in range(4):
            pinging[1].write(b"\r\n\r\n")  # RFC 5626 keep-alive; answered, not a message
            await asyncio.sleep(0.05)
        assert await closed_by_server(quiet[0], 2)
        assert await closed_by_server(pinging[0], 2)
        assert not await closed_by_server(talking[0], 0.6), "a SIP peer keeps its connection"
        assert tcp.silent == set() and len(tcp.writers) == 1
        for _, writer in (quiet, pinging, talking):
            writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_tcp_connections_past_the_limits_are_closed_at_once(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        tcp = _SipTcp(max_connections=3, max_silent=2)
        server = await asyncio.start_server(tcp.accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        first = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        third = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(third[0], 2), "a third silent one is refused"
        first[0][1].write(MESSAGE)  # one of the two speaks: a silent slot is free again
        await asyncio.sleep(0.1)
        fourth = await asyncio.open_connection("127.0.0.1", port)
        assert not await closed_by_server(fourth[0], 0.3)
        fifth = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(fifth[0], 2), "past max_connections"
        assert tcp.refused == 2
        for _, writer in (*first, third, fourth, fifth):
            writer.close()
        server.close()
        await server.wait_closed()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "SIP/TCP: 1 connections refused" in caplog.text


def test_a_tcp_peer_that_does_not_read_is_dropped_before_its_backlog_grows() -> None:
    async def scenario() -> None:
        tcp = _SipTcp(max_unsent=256 * 1024)
        server = await asyncio.start_server(tcp.accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as peer:  # never reads
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            peer.sendall(MESSAGE)
            await asyncio.sleep(0.1)
            (address,) = tcp.writers
            writer = tcp.writers[address]
            chunk = b"x" * 16384
            for _ in range(400):  # 6.5 MB, far more than the kernel's buffers take
                tcp.send(chunk, address)
                if writer.is_closing():
                    break
                await asyncio.sleep(0)
            assert writer.is_closing()
            assert writer.transport.get_write_buffer_size() <= 256 * 1024
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
