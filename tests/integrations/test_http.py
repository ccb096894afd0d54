"""The routing webhook (R6) and the generic CRM (R1, M5) against a real local HTTP server.

Each answer the peer can give (a good one, none in time, an error status, garbage, nothing
at all) becomes exactly one core event; nothing raises.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from switchboard.config.model import Crm, Endpoint
from switchboard.core.commands import AskWebhook, CreateCrmTask, LookupCrmOwner
from switchboard.core.events import (
    CrmLookupFailed,
    CrmOwnerFound,
    WebhookAnswered,
    WebhookFailed,
)
from switchboard.integrations.http import MAX_REPLY_BYTES, CrmClient, WebhookRouter
from tests.integrations.tiny_http import Answer, TinyHttp, always, closed_port, in_turn

T = TypeVar("T")
MONDAY_10 = 1795420800.0  # 2026-11-23 08:00 UTC
CALLER = "+380671111111"
PAYLOAD: dict[str, object] = {
    "call_id": "c1", "caller": CALLER, "dialed": "200", "number_name": "TechnoDim site",
    "entities": {"category": "phones", "region": "Київ"}, "known_caller": False,
    "at": MONDAY_10,
}


def run(scenario: Coroutine[Any, Any, T], limit: float = 10) -> T:
    return asyncio.run(asyncio.wait_for(scenario, limit))


async def ask(answer: Answer | None, *, secret: str | None = None, timeout: float = 2.0,
              endpoint_timeout: float = 2.0) -> tuple[WebhookAnswered | WebhookFailed,
                                                        list[Any]]:
    """One AskWebhook against a server answering ``answer`` (None: nobody listening)."""
    async with httpx.AsyncClient() as client:
        if answer is None:
            url = f"http://127.0.0.1:{closed_port()}/route"
            router = WebhookRouter({"router": Endpoint(url=url)}, client)
            return await router.ask(AskWebhook("c1", 7, url, PAYLOAD, timeout)), []
        async with TinyHttp(always(answer)) as server:
            url = f"{server.url}/route"
            endpoints = {"router": Endpoint(url=url, secret=secret, timeout=endpoint_timeout)}
            router = WebhookRouter(endpoints, client)
            event = await router.ask(AskWebhook("c1", 7, url, PAYLOAD, timeout))
            return event, server.requests


# ---------------------------------------------------------------- routing webhook


def test_a_json_object_reply_is_the_answer_and_the_payload_arrives_as_json() -> None:
    event, requests = run(ask(Answer(200, {"agent": "302", "note": "VIP"})))
    assert event == WebhookAnswered("c1", 7, {"agent": "302", "note": "VIP"})
    [seen] = requests
    assert (seen.method, seen.path) == ("POST", "/route")
    assert seen.headers["content-type"] == "application/json"
    assert seen.json() == PAYLOAD


def test_the_signature_header_is_the_hmac_sha256_of_the_exact_body() -> None:
    event, [seen] = run(ask(Answer(200, {"scheme": "english"}), secret="signing-secret"))
    assert isinstance(event, WebhookAnswered)
    expected = hmac.new(b"signing-secret", seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["x-switchboard-signature"] == f"sha256={expected}"
    wrong = hmac.new(b"another-secret", seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["x-switchboard-signature"] != f"sha256={wrong}"


def test_without_a_secret_there_is_no_signature_header() -> None:
    _, [seen] = run(ask(Answer(200, {"agent": "302"})))
    assert "x-switchboard-signature" not in seen.headers


def test_a_slow_endpoint_fails_with_timeout_within_the_commands_timeout() -> None:
    started = time.monotonic()
    event, _ = run(ask(Answer(200, {"agent": "302"}, delay=5), timeout=0.3))
    assert event == WebhookFailed("c1", 7, "timeout")
    assert time.monotonic() - started < 2


def test_the_endpoints_own_shorter_timeout_wins() -> None:
    started = time.monotonic()
    event, _ = run(ask(Answer(200, {"agent": "302"}, delay=5), timeout=4,
                       endpoint_timeout=0.3))
    assert event == WebhookFailed("c1", 7, "timeout")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("answer", "reason"), [
    (Answer(500, {"agent": "302"}), "HTTP 500"),
    (Answer(404, "no such page"), "HTTP 404"),
    (Answer(200, "<html>it works</html>"), "reply is not JSON"),
    (Answer(200, b"\xff\xfe{"), "reply is not JSON"),
    (Answer(204), "reply is not JSON"),
    (Answer(200, ["302"]), "reply is not a JSON object"),
    (Answer(200, "302"), "reply is not a JSON object"),
    (Answer(200, {"pad": "x" * MAX_REPLY_BYTES}), f"reply over {MAX_REPLY_BYTES} bytes"),
    (Answer(200, {"pad": "x" * MAX_REPLY_BYTES}, chunked=True),
     f"reply over {MAX_REPLY_BYTES} bytes"),
], ids=["500", "404", "html", "not-utf8", "empty", "list", "number", "too-big",
        "too-big-chunked"])
def test_an_unusable_reply_is_a_failure_with_a_short_reason(answer: Answer, reason: str) -> None:
    event, requests = run(ask(answer))
    assert event == WebhookFailed("c1", 7, reason)
    assert len(requests) == 1


def test_a_chunked_reply_within_the_limit_is_read_whole() -> None:
    event, _ = run(ask(Answer(200, {"agent": "302", "pad": "x" * 10_000}, chunked=True)))
    assert isinstance(event, WebhookAnswered) and event.target["agent"] == "302"


def test_connection_refused_is_a_failure() -> None:
    event, _ = run(ask(None))
    assert event == WebhookFailed("c1", 7, "cannot connect")


def test_an_unresolved_endpoint_name_is_a_failure_not_an_exception() -> None:
    async def scenario() -> WebhookAnswered | WebhookFailed:
        async with httpx.AsyncClient() as client:
            # A step naming an endpoint missing from `webhooks:` reaches us as that name.
            return await WebhookRouter({}, client).ask(AskWebhook("c1", 7, "router", {}, 1))

    assert run(scenario()) == WebhookFailed("c1", 7, "bad URL")


# ---------------------------------------------------------------- CRM owner lookup


async def lookup(answer: Answer | None, *, timeout: float = 2.0,
                 token: str | None = "crm-token") -> tuple[CrmOwnerFound | CrmLookupFailed,
                                                          list[Any]]:
    async with httpx.AsyncClient() as client:
        if answer is None:
            crm = CrmClient(Crm(url=f"http://127.0.0.1:{closed_port()}/api"), client)
            return await crm.lookup_owner(LookupCrmOwner("c1", 9, CALLER, timeout)), []
        async with TinyHttp(always(answer)) as server:
            # A trailing slash in the configured URL must not double up.
            crm = CrmClient(Crm(url=f"{server.url}/api/v1/", token=token), client)
            event = await crm.lookup_owner(LookupCrmOwner("c1", 9, CALLER, timeout))
            return event, server.requests


def test_crm_owner_found_asks_get_owner_by_phone_with_the_bearer_token() -> None:
    event, [seen] = run(lookup(Answer(200, {"agent": "201", "deal": 4412})))
    assert event == CrmOwnerFound("c1", 9, "201")
    assert (seen.method, seen.path, seen.query) == ("GET", "/api/v1/owner", {"phone": CALLER})
    assert seen.headers["authorization"] == "Bearer crm-token"


def test_a_numeric_agent_id_is_taken_as_its_string() -> None:
    event, _ = run(lookup(Answer(200, {"agent": 201})))
    assert event == CrmOwnerFound("c1", 9, "201")


@pytest.mark.parametrize("body", [{"agent": None}, {"agent": ""}])
def test_no_owner_is_an_answer_with_no_agent(body: dict[str, object]) -> None:
    event, _ = run(lookup(Answer(200, body)))
    assert event == CrmOwnerFound("c1", 9, None)


def test_without_a_token_no_authorization_header_is_sent() -> None:
    _, [seen] = run(lookup(Answer(200, {"agent": None}), token=None))
    assert "authorization" not in seen.headers


@pytest.mark.parametrize(("answer", "reason"), [
    (Answer(500), "HTTP 500"),
    (Answer(401, {"error": "bad token"}), "HTTP 401"),
    (Answer(200, {"owner": "201"}), "reply has no 'agent'"),
    (Answer(200, {"agent": ["201"]}), "'agent' is not a string"),
    (Answer(200, {"agent": True}), "'agent' is not a string"),
    (Answer(200, "not json"), "reply is not JSON"),
], ids=["500", "401", "no-agent", "list", "bool", "garbage"])
def test_a_crm_failure_is_a_failed_lookup(answer: Answer, reason: str) -> None:
    event, _ = run(lookup(answer))
    assert event == CrmLookupFailed("c1", 9, reason)


def test_a_slow_crm_is_a_failed_lookup_within_the_timeout() -> None:
    started = time.monotonic()
    event, _ = run(lookup(Answer(200, {"agent": "201"}, delay=5), timeout=0.3))
    assert event == CrmLookupFailed("c1", 9, "timeout")
    assert time.monotonic() - started < 2


def test_an_unreachable_crm_is_a_failed_lookup() -> None:
    event, _ = run(lookup(None))
    assert event == CrmLookupFailed("c1", 9, "cannot connect")


# ---------------------------------------------------------------- CRM tasks

TASK = CreateCrmTask(CALLER, "201", MONDAY_10 + 1800, f"Call back {CALLER}: voicemail",
                     "https://pbx.example.ua/rec/c1.wav")


async def create_task(respond: Any, *, attempts: int = 4,
                      crm_timeout: float = 2.0) -> tuple[bool, list[Any]]:
    async with httpx.AsyncClient() as client, TinyHttp(respond) as server:
        crm = CrmClient(Crm(url=f"{server.url}/api", token="crm-token", timeout=crm_timeout),
                        client, task_attempts=attempts, backoff=0.01)
        return await crm.create_task(TASK), server.requests


def test_a_task_is_posted_with_iso_due_time_and_retried_after_one_503() -> None:
    done, requests = run(create_task(in_turn(Answer(503), Answer(201, {"id": 77}))))
    assert done is True
    assert len(requests) == 2
    first, second = requests
    assert (second.method, second.path) == ("POST", "/api/tasks")
    assert second.json() == {
        "number": CALLER, "assignee": "201", "due": "2026-11-23T08:30:00+00:00",
        "title": f"Call back {CALLER}: voicemail",
        "attachment": "https://pbx.example.ua/rec/c1.wav",
    }
    assert second.headers["authorization"] == "Bearer crm-token"
    # The retry is the same request: a CRM that honours the key stores the task once.
    assert first.body == second.body
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


def test_a_task_is_retried_after_a_timeout() -> None:
    respond = in_turn(Answer(201, delay=5), Answer(201))
    done, requests = run(create_task(respond, crm_timeout=0.3))
    assert done is True and len(requests) == 2


def test_a_429_with_retry_after_is_retried() -> None:
    respond = in_turn(Answer(429, headers={"Retry-After": "0"}), Answer(200, {}))
    done, requests = run(create_task(respond))
    assert done is True and len(requests) == 2


def test_a_task_gives_up_after_the_last_attempt_and_logs_it(
        caplog: pytest.LogCaptureFixture) -> None:
    done, requests = run(create_task(always(Answer(503)), attempts=3))
    assert done is False and len(requests) == 3
    assert "gave up after 3 tries" in caplog.text


def test_a_4xx_refusal_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    done, requests = run(create_task(always(Answer(400, {"error": "bad due"}))))
    assert done is False and len(requests) == 1
    assert "HTTP 400 (not retried)" in caplog.text


def test_an_unreachable_crm_never_raises_into_the_caller() -> None:
    async def scenario() -> bool:
        async with httpx.AsyncClient() as client:
            crm = CrmClient(Crm(url=f"http://127.0.0.1:{closed_port()}"), client,
                            task_attempts=2, backoff=0.01)
            return await crm.create_task(TASK)

    assert run(scenario()) is False
