"""E-mail notifications against a real SMTP server: aiosmtpd listening on 127.0.0.1.

What arrives (To, From, Subject, the text), AUTH, and the retry policy of an MTA's client
(RFC 5321): 4xx replies, connection errors and timeouts are tried again; 5xx replies are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from switchboard.config.model import NotifyTarget
from switchboard.core.commands import Notify
from switchboard.integrations import notify as notify_module
from switchboard.integrations.notify import Notifier, render, tls_options
from tests.core.harness import MONDAY_10, config
from tests.integrations.tiny_http import closed_port

Kind = Literal["missed_call", "voicemail", "callback_failed"]
CALLER = "+380671111111"
USER, PASSWORD = "pbx@example.ua", "s3cret-Pa55word"
TO = "call-centre@example.ua"

CFG = config("""
    timezone: Europe/Kyiv
    numbers:
      - {number: "+380443900300", name: ТехноДім, scheme: main}
    schemes: {main: {rules: [{name: all, steps: [{hangup: true}]}]}}
""")
MISSED: dict[str, object] = {
    "number": CALLER, "dialed": "+380443900300", "at": MONDAY_10 + 15 * 60,
    "reason": "abandoned", "queue": "sales", "waited": 83.4,
}
VOICEMAIL: dict[str, object] = {
    "number": CALLER, "dialed": "+380443900300", "duration": 23.6, "at": MONDAY_10,
    "url": "https://pbx.example.ua/rec/c9.wav", "box": "sales",
}


# ---------------------------------------------------------------- the server


@dataclass
class Received:
    mail_from: str | None
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated: bool | None
    over_tls: bool


class Mailbox:
    """An aiosmtpd handler: answers RCPT from ``rcpt_replies`` in turn (then 250; the last
    one for good with ``always``), keeps what was delivered, counts RCPT commands."""

    def __init__(self, *rcpt_replies: str, always: bool = False,
                 refuse: dict[str, str] | None = None) -> None:
        self.rcpt_replies = list(rcpt_replies)
        self.always = always
        self.refuse = refuse or {}  # recipient -> reply, for good
        self.rcpts = 0
        self.received: list[Received] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        self.rcpts += 1
        if address in self.refuse:
            return self.refuse[address]
        if self.rcpt_replies:
            return self.rcpt_replies[0] if self.always else self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = (envelope.original_content or b"").replace(b"\r\n", b"\n")  # SMTP's CRLF
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,
                                      session.authenticated, _over_tls(server)))
        return "250 2.0.0 Queued"


def _over_tls(server: SMTP) -> bool:
    # session.ssl is only set by STARTTLS; the transport knows about port 465's TLS too.
    return server.transport is not None and bool(server.transport.get_extra_info("ssl_object"))


class Logins:
    """An aiosmtpd authenticator that knows one user; keeps each session that tried AUTH."""

    def __init__(self) -> None:
        self.sessions: list[Session] = []  # kept alive, so their ids stay distinct

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        self.sessions.append(session)
        good = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
                and auth_data.password == PASSWORD.encode())
        return AuthResult(success=good, handled=False)

    @property
    def connections(self) -> int:
        return len({id(session) for session in self.sessions})


@contextlib.contextmanager
def smtp_server(handler: Mailbox, port: int | None = None, **options: Any) -> Iterator[int]:
    """aiosmtpd on 127.0.0.1 (a free port unless given) for the ``with`` block: its port."""
    controller = Controller(handler, hostname="127.0.0.1", port=port or closed_port(),
                            **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA is what this process trusts, as an operator's private CA would be."""
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 stands in for a server across the network (the rules for a password)."""
    monkeypatch.setattr(notify_module, "is_loopback", lambda host: False)


def send(email: dict[str, str], payload: dict[str, object] | None = None,
         kind: Kind = "missed_call", **options: Any) -> bool:
    """Notify the target ``mail`` (the given ``email:`` spec), short backoff, 2 s a try."""
    cfg = CFG.model_copy(update={"notify": {"mail": NotifyTarget(email=email)}})
    options = {"backoff": 0.01, "timeout": 2.0, **options}

    async def scenario() -> bool:
        async with httpx.AsyncClient() as client:
            notifier = Notifier(cfg, client, **options)
            return await notifier.send(Notify("mail", kind, payload or MISSED))

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def at(port: int, **spec: str) -> dict[str, str]:
    return {"to": TO, "smtp": f"127.0.0.1:{port}", **spec}


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


# ---------------------------------------------------------------- what arrives


def test_the_mail_arrives_with_to_from_subject_and_the_notification_text() -> None:
    box = Mailbox()
    with smtp_server(box) as port:
        assert send(at(port, **{"from": "Switchboard <pbx@example.ua>"})) is True
    [mail] = box.received
    expected = render("missed_call", MISSED, CFG)
    assert (mail.mail_from, mail.rcpt_tos) == ("pbx@example.ua", [TO])
    assert mail.message["To"] == TO
    assert mail.message["From"] == "Switchboard <pbx@example.ua>"
    assert mail.message["Subject"] == expected.subject == f"Missed call from {CALLER}"
    assert mail.message.get_content().rstrip("\n") == expected.text
    assert "To: ТехноДім (+380443900300)" in mail.message.get_content()  # UTF-8 survives
    assert mail.message["Date"] and mail.message["Message-ID"].endswith("@example.ua>")
    assert mail.authenticated is None  # no username: no AUTH


def test_a_voicemail_mail_carries_the_link_and_a_default_sender() -> None:
    box = Mailbox()
    with smtp_server(box) as port:
        assert send(at(port), VOICEMAIL, kind="voicemail") is True
    [mail] = box.received
    assert mail.mail_from == "switchboard@localhost"
    assert mail.message["Subject"] == f"Voicemail from {CALLER} (24 s)"
    assert "Listen: https://pbx.example.ua/rec/c9.wav" in mail.message.get_content()


def test_a_caller_number_with_line_breaks_cannot_add_headers_or_recipients() -> None:
    box = Mailbox()
    evil = {**MISSED, "number": "+380671111111\r\nBcc: thief@example.com"}
    with smtp_server(box) as port:
        assert send(at(port), evil) is True
    [mail] = box.received
    assert mail.rcpt_tos == [TO] and mail.message["Bcc"] is None
    assert "\n" not in mail.message["Subject"]


def test_a_to_with_a_line_break_is_logged_and_nothing_is_sent(
        caplog: pytest.LogCaptureFixture) -> None:
    box = Mailbox()
    with smtp_server(box) as port:
        assert send(at(port, to="a@example.ua\nBcc: b@example.ua")) is False
    assert box.rcpts == 0 and "e-mail 'to' or 'from' is not usable" in caplog.text


def test_auth_with_username_and_password_delivers() -> None:
    box, logins = Mailbox(), Logins()
    # Plain-text AUTH without TLS is fine to a loopback address: nothing leaves the host.
    with smtp_server(box, authenticator=logins, auth_require_tls=False) as port:
        assert send(at(port, username=USER, password=PASSWORD)) is True
    [mail] = box.received
    assert mail.authenticated is True and logins.connections == 1


def test_a_recipient_refused_among_several_is_logged_and_the_others_get_it(
        caplog: pytest.LogCaptureFixture) -> None:
    box = Mailbox(refuse={"gone@example.ua": "550 5.1.1 No such user"})
    with smtp_server(box) as port:
        assert send(at(port, to=f"{TO}, gone@example.ua")) is True
    [mail] = box.received
    assert mail.rcpt_tos == [TO] and box.rcpts == 2  # not sent again to the first
    assert "refused for gone@example.ua (SMTP 550)" in caplog.text


# ---------------------------------------------------------------- retries (RFC 5321)


@pytest.mark.parametrize("reply", ["451 4.3.0 Try again later", "450 4.2.1 Mailbox busy",
                                   "452 4.3.1 Insufficient system storage",
                                   "421 4.7.0 Try again later, closing connection"])
def test_a_transient_4xx_is_retried_and_then_delivered(
        reply: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="switchboard")
    box = Mailbox(reply)
    with smtp_server(box) as port:
        assert send(at(port), attempts=3) is True
    assert box.rcpts == 2 and len(box.received) == 1
    assert f"SMTP {reply[:3]}" in caplog.text and "try 2 of 3" in caplog.text


def test_a_4xx_every_time_gives_up_after_the_attempts(
        caplog: pytest.LogCaptureFixture) -> None:
    box = Mailbox("451 4.3.0 Try again later", always=True)
    with smtp_server(box) as port:
        assert send(at(port), attempts=3) is False
    assert box.rcpts == 3 and box.received == []
    assert "gave up after 3 tries" in caplog.text


@pytest.mark.parametrize("reply", ["550 5.1.1 <call-centre@example.ua>: no such user",
                                   "553 5.1.3 Bad recipient address syntax",
                                   "554 5.7.1 Relay access denied"])
def test_a_permanent_5xx_is_tried_once_and_logged_once_with_its_code(
        reply: str, caplog: pytest.LogCaptureFixture) -> None:
    box = Mailbox(reply, always=True)
    with smtp_server(box) as port:
        assert send(at(port), attempts=3) is False
    assert box.rcpts == 1 and box.received == []
    [warning] = warnings(caplog)
    assert f"SMTP {reply[:3]}" in warning and "permanent" in warning
    assert reply.split(" ", 2)[2] in warning  # the server's own words


def test_a_5xx_to_data_is_permanent_too(caplog: pytest.LogCaptureFixture) -> None:
    class Spam(Mailbox):
        async def handle_DATA(self, server: SMTP, session: Session,
                              envelope: Envelope) -> str:
            self.received.append(None)  # type: ignore[arg-type]  # counts DATA
            return "554 5.7.1 Message rejected as spam"

    box = Spam()
    with smtp_server(box) as port:
        assert send(at(port), attempts=3) is False
    assert len(box.received) == 1
    assert "SMTP 554: 5.7.1 Message rejected as spam (permanent" in caplog.text


def test_wrong_credentials_535_are_not_retried_and_the_password_is_not_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    box, logins = Mailbox(), Logins()
    with smtp_server(box, authenticator=logins, auth_require_tls=False) as port:
        assert send(at(port, username=USER, password="wrong-" + PASSWORD),
                    attempts=3) is False
    assert logins.connections == 1 and box.received == []
    [warning] = warnings(caplog)
    assert "SMTP 535" in warning and "permanent" in warning
    assert PASSWORD not in caplog.text


def test_a_dead_port_is_retried_attempts_times_and_fails_without_raising(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="switchboard")
    assert send(at(closed_port()), attempts=3) is False
    assert "cannot connect" in caplog.text
    assert caplog.text.count("try 2 of 3") == 1 and caplog.text.count("try 3 of 3") == 1
    assert "gave up after 3 tries" in caplog.text


def test_a_server_that_stalls_hits_the_timeout_on_every_try(
        caplog: pytest.LogCaptureFixture) -> None:
    connections = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read()  # never a greeting: the client waits for it until its deadline
        writer.close()

    async def scenario() -> tuple[bool, float]:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        cfg = CFG.model_copy(update={"notify": {"mail": NotifyTarget(email=at(port))}})
        async with server, httpx.AsyncClient() as client:
            notifier = Notifier(cfg, client, timeout=0.3, attempts=2, backoff=0.01)
            start = time.monotonic()
            sent = await notifier.send(Notify("mail", "missed_call", MISSED))
            return sent, time.monotonic() - start

    sent, took = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sent is False and connections == 2
    assert 0.6 <= took < 3
    assert "timeout" in caplog.text and "gave up after 2 tries" in caplog.text


def test_a_server_that_stalls_after_the_data_hits_the_total_deadline(
        caplog: pytest.LogCaptureFixture) -> None:
    class Slow(Mailbox):
        async def handle_DATA(self, server: SMTP, session: Session,
                              envelope: Envelope) -> str:
            self.received.append(None)  # type: ignore[arg-type]
            await asyncio.sleep(3)
            return "250 OK"

    box = Slow()
    with smtp_server(box) as port:
        start = time.monotonic()
        assert send(at(port), timeout=0.5, attempts=1) is False
        assert time.monotonic() - start < 2
    assert "timeout" in caplog.text


# ---------------------------------------------------------------- TLS


@pytest.mark.parametrize(("host", "port", "login", "expected"), [
    ("smtp.example.com", 465, False, {"use_tls": True, "validate_certs": True}),
    ("smtp.example.com", 465, True, {"use_tls": True, "validate_certs": True}),
    ("smtp.example.com", 587, True, {"start_tls": True, "validate_certs": True}),
    ("192.0.2.7", 25, True, {"start_tls": True, "validate_certs": True}),
    ("smtp.example.com", 587, False, {"start_tls": None, "validate_certs": False}),
    ("localhost", 587, True, {"start_tls": None, "validate_certs": False}),
    ("127.0.0.1", 25, True, {"start_tls": None, "validate_certs": False}),
    ("::1", 25, True, {"start_tls": None, "validate_certs": False}),
])
def test_tls_policy(host: str, port: int, login: bool, expected: dict[str, Any]) -> None:
    assert tls_options(host, port, login=login) == expected


def test_starttls_is_used_when_offered_even_with_a_self_signed_certificate(
        ca: trustme.CA) -> None:
    box = Mailbox()  # the certificate is from a CA this process does not trust
    with smtp_server(box, tls_context=server_tls(ca)) as port:
        assert send(at(port)) is True
    [mail] = box.received
    assert mail.over_tls is True


@pytest.mark.usefixtures("remote", "trusted")
def test_a_password_to_a_remote_server_goes_over_verified_starttls(ca: trustme.CA) -> None:
    box, logins = Mailbox(), Logins()
    # auth_require_tls is aiosmtpd's default: AUTH is only offered after STARTTLS.
    with smtp_server(box, tls_context=server_tls(ca), authenticator=logins) as port:
        assert send(at(port, username=USER, password=PASSWORD)) is True
    [mail] = box.received
    assert mail.over_tls is True and mail.authenticated is True


@pytest.mark.usefixtures("remote")
def test_a_password_is_never_sent_to_a_remote_server_without_starttls(
        caplog: pytest.LogCaptureFixture) -> None:
    box, logins = Mailbox(), Logins()
    with smtp_server(box, authenticator=logins, auth_require_tls=False) as port:
        assert send(at(port, username=USER, password=PASSWORD), attempts=3) is False
    assert logins.sessions == [] and box.rcpts == 0
    [warning] = warnings(caplog)
    assert "STARTTLS" in warning and "permanent" in warning


@pytest.mark.usefixtures("remote")
def test_a_password_is_never_sent_to_an_untrusted_certificate(
        ca: trustme.CA, caplog: pytest.LogCaptureFixture) -> None:
    box, logins = Mailbox(), Logins()
    with smtp_server(box, tls_context=server_tls(ca), authenticator=logins) as port:
        assert send(at(port, username=USER, password=PASSWORD), attempts=3) is False
    assert logins.sessions == [] and box.received == []
    [warning] = warnings(caplog)
    assert "TLS certificate not trusted" in warning and "permanent" in warning


@pytest.mark.usefixtures("trusted")
def test_port_465_is_implicit_tls(ca: trustme.CA) -> None:
    """Listens on 127.0.0.1:465 itself: needs root (CI runs as root), and fails, never
    skips, where it cannot."""
    box, logins = Mailbox(), Logins()
    # aiosmtpd 1.4 counts only STARTTLS as TLS for AUTH: its auth_require_tls would refuse.
    with smtp_server(box, port=465, ssl_context=server_tls(ca), authenticator=logins,
                     auth_require_tls=False) as port:
        assert send(at(port, username=USER, password=PASSWORD)) is True
    [mail] = box.received
    assert mail.over_tls is True and mail.authenticated is True
