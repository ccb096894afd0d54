"""``Integrations``: handlers for the driver, answers fed back, bounded concurrency, shutdown.

The last test wires it to the real ``CoreDriver`` and routing core: a call to a website
number asks the local webhook server and rings the agent it names.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from switchboard.config.model import Config
from switchboard.core import commands as c
from switchboard.core import events as e
from switchboard.core.switchboard import Switchboard
from switchboard.integrations import Integrations
from switchboard.runtime.driver import CoreDriver
from tests.core.harness import MONDAY_10, config
from tests.integrations.tiny_http import Answer, TinyHttp, always

T = TypeVar("T")
CALLER = "+380671111111"


def run(scenario: Coroutine[Any, Any, T], limit: float = 10) -> T:
    return asyncio.run(asyncio.wait_for(scenario, limit))


def make_config(url: str, crm: bool = True) -> Config:
    return config(f"""
        timezone: Europe/Kyiv
        numbers: [{{number: "200", name: TechnoDim site, scheme: website}}]
        agents: [{{id: "201"}}, {{id: "304"}}]
        schemes:
          website:
            rules:
              - name: visitors
                steps:
                  - webhook: {{endpoint: router, timeout: 2, ring_timeout: 20}}
                  - queue: sales
        queues: {{sales: {{members: ["201"], wrapup: 0}}}}
        webhooks: {{router: {{url: "{url}/route", secret: s3cret}}}}
        {f'crm: {{url: "{url}/crm", token: t}}' if crm else ''}
        notify: {{hook: {{webhook: "{url}/hooks"}}}}
    """)


def ask(n: int, url: str, timeout: float = 2) -> c.AskWebhook:
    return c.AskWebhook(f"c{n}", n, f"{url}/route", {"call_id": f"c{n}"}, timeout)


class Registry:
    """Stands in for ``CoreDriver.on``: records what was registered."""

    def __init__(self) -> None:
        self.handlers: dict[type, Callable[[Any], None]] = {}

    def on(self, kind: type, handler: Callable[[Any], None]) -> None:
        self.handlers[kind] = handler


def test_attach_registers_the_four_command_types() -> None:
    async def scenario() -> set[type]:
        integrations = Integrations(make_config("http://127.0.0.1:1"), lambda ev: None)
        registry = Registry()
        integrations.attach(registry)
        await integrations.aclose()
        return set(registry.handlers)

    assert run(scenario()) == {c.AskWebhook, c.LookupCrmOwner, c.Notify, c.CreateCrmTask}


def test_each_command_is_carried_out_and_answers_are_fed_back() -> None:
    def respond(seen: Any) -> Answer:
        return {
            "/route": Answer(200, {"agent": "304"}),
            "/crm/owner": Answer(200, {"agent": "201"}),
        }.get(seen.path, Answer(201))

    async def scenario() -> tuple[list[e.Event], list[str]]:
        fed: list[e.Event] = []
        async with TinyHttp(respond) as server:
            integrations = Integrations(make_config(server.url), fed.append)
            registry = Registry()
            integrations.attach(registry)
            registry.handlers[c.AskWebhook](ask(1, server.url))
            registry.handlers[c.LookupCrmOwner](c.LookupCrmOwner("c2", 2, CALLER, 2))
            registry.handlers[c.Notify](c.Notify("hook", "missed_call", {"number": CALLER}))
            registry.handlers[c.CreateCrmTask](c.CreateCrmTask(CALLER, None, MONDAY_10, "t"))
            await integrations.drain()
            await integrations.aclose()
            return fed, sorted(r.path for r in server.requests)

    fed, paths = run(scenario())
    assert sorted(fed, key=repr) == sorted([
        e.WebhookAnswered("c1", 1, {"agent": "304"}), e.CrmOwnerFound("c2", 2, "201"),
    ], key=repr)
    assert paths == ["/crm/owner", "/crm/tasks", "/hooks", "/route"]


def test_requests_in_flight_are_bounded_and_all_still_answered() -> None:
    async def scenario() -> tuple[int, list[e.Event]]:
        fed: list[e.Event] = []
        async with TinyHttp(always(Answer(200, {"agent": "201"}, delay=0.2))) as server:
            integrations = Integrations(make_config(server.url), fed.append, max_requests=2)
            for n in range(1, 6):
                integrations.ask_webhook(ask(n, server.url, timeout=3))
            await integrations.drain()
            await integrations.aclose()
            return server.max_in_flight, fed

    most, fed = run(scenario())
    assert most == 2
    assert sorted(ev.request_id for ev in fed if isinstance(ev, e.WebhookAnswered)) == [
        1, 2, 3, 4, 5]


def test_waiting_for_a_free_slot_counts_against_the_webhook_timeout() -> None:
    async def scenario() -> list[e.Event]:
        fed: list[e.Event] = []
        async with TinyHttp(always(Answer(200, {"agent": "201"}, delay=0.5))) as server:
            integrations = Integrations(make_config(server.url), fed.append, max_requests=1)
            integrations.ask_webhook(ask(1, server.url, timeout=2))
            integrations.ask_webhook(ask(2, server.url, timeout=0.2))  # waits behind #1
            await integrations.drain()
            await integrations.aclose()
            return fed

    fed = run(scenario())
    assert fed == [e.WebhookFailed("c2", 2, "timeout"),
                   e.WebhookAnswered("c1", 1, {"agent": "201"})]


def test_without_a_crm_a_lookup_fails_at_once_and_a_task_is_dropped(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[e.Event]:
        fed: list[e.Event] = []
        integrations = Integrations(make_config("http://127.0.0.1:1", crm=False), fed.append)
        integrations.lookup_crm_owner(c.LookupCrmOwner("c1", 4, CALLER, 2))
        integrations.create_crm_task(c.CreateCrmTask(CALLER, None, MONDAY_10, "t"))
        await integrations.drain()
        await integrations.aclose()
        return fed

    assert run(scenario()) == [e.CrmLookupFailed("c1", 4, "no CRM configured")]
    assert "CRM task for +380671111111 dropped: no CRM configured" in caplog.text


def test_a_feed_that_raises_is_logged_and_does_not_stop_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[e.Event]:
        fed: list[e.Event] = []

        def feed(ev: e.Event) -> None:
            fed.append(ev)
            if len(fed) == 1:
                raise RuntimeError("core bug")

        async with TinyHttp(always(Answer(200, {"agent": "201"}))) as server:
            integrations = Integrations(make_config(server.url), feed)
            integrations.ask_webhook(ask(1, server.url))
            integrations.ask_webhook(ask(2, server.url))
            await integrations.drain()
            await integrations.aclose()
        return fed

    assert len(run(scenario())) == 2
    assert "feeding" in caplog.text and "core bug" in caplog.text


def test_aclose_cancels_slow_requests_after_the_grace_and_refuses_new_ones() -> None:
    async def scenario() -> tuple[list[e.Event], float, int, bool]:
        fed: list[e.Event] = []
        async with TinyHttp(always(Answer(200, {"agent": "201"}, delay=5))) as server:
            integrations = Integrations(make_config(server.url), fed.append)
            integrations.ask_webhook(ask(1, server.url, timeout=8))
            await asyncio.sleep(0.1)  # the request reaches the server
            started = time.monotonic()
            await integrations.aclose(grace=0.2)
            took = time.monotonic() - started
            integrations.ask_webhook(ask(2, server.url))  # after close: dropped, no error
            await asyncio.sleep(0.1)
            return fed, took, len(server.requests), integrations.client.is_closed

    fed, took, requests, closed = run(scenario())
    assert fed == [] and took < 1 and requests == 1 and closed


def test_a_client_passed_in_is_left_open() -> None:
    async def scenario() -> bool:
        async with httpx.AsyncClient() as client:
            integrations = Integrations(make_config("http://127.0.0.1:1"), lambda ev: None,
                                        client)
            await integrations.aclose()
            return client.is_closed

    assert run(scenario()) is False


def test_with_the_real_driver_a_webhook_answer_rings_the_agent_it_names() -> None:
    async def scenario() -> tuple[list[c.Ring], dict[str, object]]:
        async with TinyHttp(always(Answer(200, {"agent": "304"}))) as server:
            cfg = make_config(server.url)
            driver = CoreDriver(Switchboard(cfg, random.Random(1)), asyncio.get_running_loop())
            rings: list[c.Ring] = []
            driver.on(c.Ring, rings.append)
            integrations = Integrations(cfg, driver.feed)
            integrations.attach(driver)
            for agent in ("201", "304"):
                driver.feed(e.AgentRegistered(agent, True))
            driver.feed(e.CallArrived("c1", "200", CALLER, {"category": "phones"}))
            await integrations.drain()
            await integrations.aclose()
            driver.close()
            return rings, server.requests[0].json()

    rings, sent = run(scenario())
    assert [(r.call_id, [leg.address for leg in r.legs]) for r in rings] == [("c1", ["304"])]
    assert sent["caller"] == CALLER and sent["entities"] == {"category": "phones"}
