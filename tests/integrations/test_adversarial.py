"""Hostile and broken peers against the integrations, over a real HTTP server on 127.0.0.1.

Each peer here misbehaves in one way: it never answers, stalls or drips its reply, resets
the connection, sends garbage, a compression bomb or a redirect, is overloaded, or is still
busy at shutdown. Whatever it does, the core gets its answer or failure within the timeout,
nothing raises or hangs, nothing is sent twice that was accepted once, and no secret lands
in a log line. Timeouts are a fraction of a second so the whole file runs in seconds.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from switchboard.config.model import Config, Crm, Endpoint
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.integrations import Integrations
from switchboard.integrations.http import CrmClient, WebhookRouter
from switchboard.integrations.notify import Notifier
from tests.core.harness import MONDAY_10, config
from tests.integrations.tiny_http import Answer, Seen, TinyHttp, always, closed_port

T = TypeVar("T")
CALLER = "+380671111111"
BOT_TOKEN = "123456:ABC-bot-secret"
SMS_KEY = "sms-api-key-secret"
CRM_TOKEN = "crm-token-secret"
HOOK_PASSWORD = "hook-password-secret"
SECRETS = (BOT_TOKEN, SMS_KEY, CRM_TOKEN, HOOK_PASSWORD)
FAST = 0.3  # seconds: the timeout of every request here


def run(scenario: Coroutine[Any, Any, T], limit: float = 10) -> T:
    return asyncio.run(asyncio.wait_for(scenario, limit))


def make_config(url: str, *, crm_timeout: float = FAST, webhook_url: str | None = None,
                sms_url: str | None = None) -> Config:
    return config(f"""
        numbers: [{{number: "200", scheme: main}}]
        agents: [{{id: "201"}}]
        schemes: {{main: {{rules: [{{name: all, steps: [{{hangup: true}}]}}]}}}}
        webhooks: {{router: {{url: "{webhook_url or url + '/route'}", timeout: {FAST}}}}}
        crm: {{url: "{url}/crm", token: {CRM_TOKEN}, timeout: {crm_timeout}}}
        notify:
          chat: {{telegram: {{chat_id: "-100", bot_token: "{BOT_TOKEN}"}}}}
          hook: {{webhook: "{url}/hooks"}}
          sms: {{sms: {{to: "+380501234510", url: "{sms_url or url + '/sms'}"}}}}
    """)


def ask(n: int, url: str, timeout: float = FAST) -> c.AskWebhook:
    return c.AskWebhook(f"c{n}", n, url, {"call_id": f"c{n}"}, timeout)


async def webhook(answer: Answer, timeout: float = FAST) -> e.WebhookAnswered | e.WebhookFailed:
    async with httpx.AsyncClient() as client, TinyHttp(always(answer)) as server:
        router = WebhookRouter({"router": Endpoint(url=f"{server.url}/route")}, client)
        return await router.ask(ask(1, f"{server.url}/route", timeout))


async def lookup(answer: Answer) -> e.CrmOwnerFound | e.CrmLookupFailed:
    async with httpx.AsyncClient() as client, TinyHttp(always(answer)) as server:
        crm = CrmClient(Crm(url=f"{server.url}/crm", timeout=FAST), client)
        return await crm.lookup_owner(c.LookupCrmOwner("c1", 1, CALLER, FAST))


MISSED = {"number": CALLER, "at": MONDAY_10, "reason": "abandoned"}
TASK = c.CreateCrmTask(CALLER, "201", MONDAY_10 + 1800, "Call back")


async def deliveries(answer: Answer, *, attempts: int = 3) -> dict[str, tuple[bool, int]]:
    """Each one-way sender against ``answer``: did it report success, in how many requests."""
    outcome: dict[str, tuple[bool, int]] = {}
    async with httpx.AsyncClient() as client, TinyHttp(always(answer)) as server:
        cfg = make_config(server.url)
        notifier = Notifier(cfg, client, telegram_api=server.url, timeout=FAST,
                            attempts=attempts, backoff=0.01)
        crm = CrmClient(cfg.crm or Crm(url=""), client, task_attempts=attempts, backoff=0.01)
        for target in ("chat", "hook", "sms"):
            before = len(server.requests)
            sent = await notifier.send(c.Notify(target, "missed_call", MISSED))
            outcome[target] = (sent, len(server.requests) - before)
        before = len(server.requests)
        outcome["crm task"] = (await crm.create_task(TASK), len(server.requests) - before)
    return outcome


# ---------------------------------------------------------------- silence, stalls, drips

STALLS = {
    "never-answers": Answer(200, {"agent": "201"}, delay=30),
    "head-then-stall": Answer(200, {"agent": "201"}, drip=30),
    # One byte every 0.1 s: each read is quick, so httpx's per-read timeout never fires.
    "slow-drip": Answer(200, {"agent": "201", "pad": "x" * 40}, drip=0.1),
}


@pytest.mark.parametrize("answer", STALLS.values(), ids=STALLS.keys())
def test_a_stalled_or_dripping_reply_fails_the_lookups_within_their_timeout(
        answer: Answer) -> None:
    async def scenario() -> tuple[object, object, float]:
        async with httpx.AsyncClient() as client, TinyHttp(always(answer)) as server:
            router = WebhookRouter({}, client)
            crm = CrmClient(Crm(url=server.url), client)
            started = time.monotonic()
            routed, owner = await asyncio.gather(
                router.ask(ask(1, f"{server.url}/route")),
                crm.lookup_owner(c.LookupCrmOwner("c1", 1, CALLER, FAST)))
            return routed, owner, time.monotonic() - started

    routed, owner, took = run(scenario())
    assert routed == e.WebhookFailed("c1", 1, "timeout")
    assert owner == e.CrmLookupFailed("c1", 1, "timeout")
    assert took < FAST + 0.2


def test_a_reply_reset_mid_body_is_a_failure_not_an_exception() -> None:
    answer = Answer(200, {"agent": "201", "pad": "x" * 1000}, reset_after=10)
    routed = run(webhook(answer))
    owner = run(lookup(answer))
    assert isinstance(routed, e.WebhookFailed) and routed.reason.startswith(
        ("broken HTTP reply", "request failed"))
    assert isinstance(owner, e.CrmLookupFailed)


def test_connection_refused_fails_every_lookup_at_once() -> None:
    async def scenario() -> tuple[object, object, float]:
        url = f"http://127.0.0.1:{closed_port()}"
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            routed = await WebhookRouter({}, client).ask(ask(1, f"{url}/route", 2))
            owner = await CrmClient(Crm(url=url), client).lookup_owner(
                c.LookupCrmOwner("c1", 1, CALLER, 2))
        return routed, owner, time.monotonic() - started

    routed, owner, took = run(scenario())
    assert routed == e.WebhookFailed("c1", 1, "cannot connect")
    assert owner == e.CrmLookupFailed("c1", 1, "cannot connect")
    assert took < 1


def test_a_notification_accepted_with_a_2xx_is_not_sent_again_however_its_body_goes() -> None:
    """Bug: the 2xx body was read (and had to be small and whole) before a send counted.

    A Telegram or SMS gateway that said 200 but dripped, reset or padded its body got the
    same message three times, and it was logged as failed.
    """
    for answer in (Answer(200, {"ok": True, "pad": "x" * 100}, drip=0.05),
                   Answer(200, {"ok": True, "pad": "x" * 1000}, reset_after=10),
                   Answer(200, "<html>" + "thanks " * 20_000 + "</html>")):
        assert run(deliveries(answer)) == {
            "chat": (True, 1), "hook": (True, 1), "sms": (True, 1), "crm task": (True, 1),
        }


def test_a_silent_peer_fails_each_one_way_send_after_its_attempts() -> None:
    started = time.monotonic()
    outcome = run(deliveries(Answer(200, delay=30), attempts=2))
    assert outcome == {"chat": (False, 2), "hook": (False, 2), "sms": (False, 2),
                       "crm task": (False, 2)}
    assert time.monotonic() - started < 8 * (FAST + 0.1) + 1


# ---------------------------------------------------------------- garbage


@pytest.mark.parametrize("body", [
    b"[" * 30_000 + b"]" * 30_000,  # within the size limit, but 30 000 deep
    b'{"a":' * 6_000 + b"1" + b"}" * 6_000,
], ids=["deep-list", "deep-object"])
def test_deeply_nested_json_is_a_failure_not_an_exception(body: bytes) -> None:
    """Bug: json.loads raised RecursionError (not a ValueError) out of ask/lookup_owner.

    The task died with a logged traceback and the core got no event at all: the call sat
    in the step until the core's own timer ran out.
    """
    assert run(webhook(Answer(200, body))) == e.WebhookFailed("c1", 1, "reply is not JSON")
    assert run(lookup(Answer(200, body))) == e.CrmLookupFailed("c1", 1, "reply is not JSON")


@pytest.mark.parametrize(("body", "reason"), [
    (None, "reply is not a JSON object"),
    ("english", "reply is not a JSON object"),
    (b'"english"', "reply is not a JSON object"),
], ids=["null", "text", "json-string"])
def test_json_that_is_not_an_object_is_a_failure(body: object, reason: str) -> None:
    answer = Answer(200, b"null" if body is None else body)
    assert run(webhook(answer)) == e.WebhookFailed(
        "c1", 1, "reply is not JSON" if body == "english" else reason)


def test_unknown_names_and_nested_values_go_to_the_core_as_they_are() -> None:
    # The core, not the transport, decides that "ghost" is nobody (and falls through).
    reply: dict[str, object] = {"agent": "ghost", "number": {"nested": [1, 2]}, "scheme": None}
    answer = Answer(200, reply, headers={"Content-Type": "text/html; charset=koi8-r"})
    assert run(webhook(answer)) == e.WebhookAnswered("c1", 1, reply)


def test_a_10_mb_reply_is_refused_without_reading_it_whole() -> None:
    huge = b'{"agent": "201", "pad": "' + b"x" * 10_000_000 + b'"}'
    for chunked in (False, True):
        started = time.monotonic()
        routed = run(webhook(Answer(200, huge, chunked=chunked), timeout=5))
        assert routed == e.WebhookFailed("c1", 1, "reply over 65536 bytes")
        assert time.monotonic() - started < 2


def test_a_compressed_reply_cannot_inflate_past_the_size_limit() -> None:
    """Bug: httpx inflated gzip before the size check; 10 kB became 10 MB in memory.

    Requests now ask for ``Accept-Encoding: identity`` and a reply compressed anyway is
    refused: a routing answer is tens of bytes, compression buys nothing.
    """
    bomb = gzip.compress(b'{"agent": "201", "pad": "' + b"x" * 10_000_000 + b'"}')
    assert len(bomb) < 20_000
    seen: list[Seen] = []

    def respond(request: Seen) -> Answer:
        seen.append(request)
        return Answer(200, bomb, headers={"Content-Encoding": "gzip"})

    async def scenario() -> e.WebhookAnswered | e.WebhookFailed:
        async with httpx.AsyncClient() as client, TinyHttp(respond) as server:
            router = WebhookRouter({}, client)
            return await router.ask(ask(1, f"{server.url}/route", 2))

    assert run(scenario()) == e.WebhookFailed("c1", 1, "compressed reply")
    assert seen[0].headers["accept-encoding"] == "identity"


def test_a_redirect_is_not_followed_even_by_a_client_that_follows_them() -> None:
    """Bug: a client made with ``follow_redirects=True`` re-sent the signed call data
    (a 307 keeps method and body) to wherever the peer pointed."""
    async def scenario() -> tuple[object, int]:
        async with TinyHttp(always(Answer(200, {"agent": "201"}))) as elsewhere:
            moved = Answer(307, headers={"Location": f"{elsewhere.url}/steal"})
            async with httpx.AsyncClient(follow_redirects=True) as client, \
                    TinyHttp(always(moved)) as server:
                url = f"{server.url}/route"
                router = WebhookRouter({"r": Endpoint(url=url, secret="s")}, client)
                routed = await router.ask(ask(1, url))
            return routed, len(elsewhere.requests)

    assert run(scenario()) == (e.WebhookFailed("c1", 1, "HTTP 307"), 0)


def test_a_non_ascii_token_fails_the_lookup_instead_of_raising() -> None:
    """Bug: httpx raised UnicodeEncodeError building the Authorization header; the lookup
    task died and the core never heard back."""
    async def scenario() -> e.CrmOwnerFound | e.CrmLookupFailed:
        async with httpx.AsyncClient() as client, \
                TinyHttp(always(Answer(200, {"agent": "201"}))) as server:
            crm = CrmClient(Crm(url=server.url, token="токен"), client)
            return await crm.lookup_owner(c.LookupCrmOwner("c1", 1, CALLER, FAST))

    assert run(scenario()) == e.CrmLookupFailed("c1", 1, "a header is not ASCII")


# ---------------------------------------------------------------- load


async def two_hundred_calls(answer: Answer, max_requests: int,
                            timeout: float) -> tuple[list[e.Event], TinyHttp, float, float]:
    """200 AskWebhooks at once: what was fed back, the server, how long, the loop's worst lag."""
    fed: list[e.Event] = []
    async with TinyHttp(always(answer)) as server:
        integrations = Integrations(make_config(server.url), fed.append,
                                    max_requests=max_requests)
        lag = 0.0

        async def ticker() -> None:
            nonlocal lag
            while True:
                before = time.monotonic()
                await asyncio.sleep(0.01)
                lag = max(lag, time.monotonic() - before - 0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        for n in range(1, 201):
            # Not the configured endpoint (its timeout is FAST): the command's timeout holds.
            integrations.ask_webhook(ask(n, f"{server.url}/bare", timeout))
        await integrations.drain()
        took = time.monotonic() - started
        ticking.cancel()
        await integrations.aclose(grace=0)
        return sorted(fed, key=lambda ev: getattr(ev, "request_id", 0)), server, took, lag


def test_200_calls_at_once_against_a_slow_server_are_served_a_bounded_number_at_a_time(
        ) -> None:
    fed, server, took, lag = run(two_hundred_calls(
        Answer(200, {"agent": "201"}, delay=0.2), max_requests=50, timeout=5))
    assert fed == [e.WebhookAnswered(f"c{n}", n, {"agent": "201"}) for n in range(1, 201)]
    assert server.max_in_flight == 50
    # Four waves of 0.2 s; the loop never blocked for long (bounds loose: a busy CI machine).
    assert took < 5 and lag < 1


def test_200_calls_at_once_against_a_silent_server_all_fail_by_their_deadline() -> None:
    fed, server, took, lag = run(two_hundred_calls(
        Answer(200, {"agent": "201"}, delay=30), max_requests=8, timeout=FAST))
    assert fed == [e.WebhookFailed(f"c{n}", n, "timeout") for n in range(1, 201)]
    # The waiting ones gave up in the queue: (almost) only the first 8 ever reached it.
    assert len(server.requests) <= 16
    assert took < FAST + 2 and lag < 1


def test_notifications_to_a_dead_peer_do_not_starve_the_routing_webhook() -> None:
    """Bug: one pool of request slots for everything. Missed-call notifications and CRM
    tasks to a peer that never answers held every slot for their whole timeout, so each
    routing webhook waited for a slot until its own (shorter) timeout: every call took
    the fallback while a Telegram outage lasted."""
    async def scenario() -> list[e.Event]:
        fed: list[e.Event] = []
        async with TinyHttp(always(Answer(200, {"agent": "201"}))) as router, \
                TinyHttp(always(Answer(200, delay=30))) as dead:
            cfg = make_config(dead.url, crm_timeout=5, webhook_url=f"{router.url}/route")
            integrations = Integrations(cfg, fed.append, max_requests=2,
                                        telegram_api=dead.url, notify_attempts=1)
            integrations.notify(c.Notify("chat", "missed_call", MISSED))
            integrations.notify(c.Notify("hook", "missed_call", MISSED))
            integrations.create_crm_task(TASK)
            await asyncio.sleep(0.1)  # they hold their slots now
            integrations.ask_webhook(ask(1, f"{router.url}/route"))
            integrations.lookup_crm_owner(c.LookupCrmOwner("c2", 2, CALLER, FAST))
            await asyncio.sleep(FAST + 0.2)
            await integrations.aclose(grace=0)
            return fed

    fed = run(scenario())
    assert e.WebhookAnswered("c1", 1, {"agent": "201"}) in fed
    # The lookup goes to the dead CRM: it fails by its own timeout, not by the queue.
    assert e.CrmLookupFailed("c2", 2, "timeout") in fed


# ---------------------------------------------------------------- shutdown


def ours() -> list[asyncio.Task[Any]]:
    """Integration tasks still running: not the test's own, not the server's handlers."""
    return [task for task in asyncio.all_tasks()
            if getattr(task.get_coro(), "__qualname__", "") == "_run"]


def test_aclose_with_everything_in_flight_is_quick_quiet_and_leaves_no_task() -> None:
    async def scenario() -> tuple[float, int, bool]:
        async with TinyHttp(always(Answer(200, {"ok": True}, drip=1))) as server:
            cfg = make_config(server.url, crm_timeout=5)
            integrations = Integrations(cfg, lambda ev: None, telegram_api=server.url)
            for n in range(20):
                integrations.ask_webhook(ask(n, f"{server.url}/route", 5))
                integrations.lookup_crm_owner(c.LookupCrmOwner(f"c{n}", n, CALLER, 5))
                integrations.notify(c.Notify(("chat", "hook", "sms")[n % 3], "missed_call",
                                             MISSED))
                integrations.create_crm_task(TASK)
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await integrations.aclose(grace=0.1)
            await integrations.aclose(grace=0.1)  # twice is harmless
            took = time.monotonic() - started
            left = len(ours())
            return took, left, integrations.client.is_closed

    took, left, closed = run(scenario())
    assert took < 1 and closed
    assert left == 0


def test_aclose_cancelled_by_its_caller_still_cancels_the_requests_and_closes_the_client(
        ) -> None:
    """Bug: a shutdown that gave up waiting (``wait_for(aclose(), ...)``) cancelled aclose
    during its grace: the requests ran on and the client stayed open."""
    async def scenario() -> tuple[int, bool]:
        async with TinyHttp(always(Answer(200, delay=30))) as server:
            integrations = Integrations(make_config(server.url, crm_timeout=5),
                                        lambda ev: None, telegram_api=server.url)
            integrations.create_crm_task(TASK)
            integrations.ask_webhook(ask(1, f"{server.url}/route", 5))
            await asyncio.sleep(0.1)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(integrations.aclose(grace=5), 0.2)
            await asyncio.sleep(0)
            left = len(ours())
            return left, integrations.client.is_closed

    assert run(scenario()) == (0, True)


# ---------------------------------------------------------------- secrets in logs


def test_no_token_password_or_key_reaches_any_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    """Bug: httpx logs every request's full URL at INFO (``switchboard run`` logs INFO), and
    a Telegram URL carries the bot token, an SMS gateway's often its key; the routing
    webhook's own failure line printed its URL with any user:password in it."""
    caplog.set_level(logging.DEBUG)

    def respond(seen: Seen) -> Answer:
        return Answer(500) if seen.path == "/route" else Answer(200, {"ok": True})

    async def scenario() -> None:
        async with TinyHttp(respond) as server:
            host = server.url.removeprefix("http://")
            cfg = make_config(server.url,
                              webhook_url=f"http://admin:{HOOK_PASSWORD}@{host}/route",
                              sms_url=f"{server.url}/sms?api_key={SMS_KEY}")
            integrations = Integrations(cfg, lambda ev: None, telegram_api=server.url)
            integrations.ask_webhook(ask(1, cfg.webhooks["router"].url))
            integrations.lookup_crm_owner(c.LookupCrmOwner("c2", 2, CALLER, FAST))
            for target in ("chat", "hook", "sms"):
                integrations.notify(c.Notify(target, "missed_call", MISSED))
            integrations.create_crm_task(TASK)
            await integrations.drain()
            await integrations.aclose()

    run(scenario())
    assert "HTTP 500" in caplog.text  # the webhook's failure was logged...
    for secret in SECRETS:  # ...and nothing secret was
        assert secret not in caplog.text, secret
