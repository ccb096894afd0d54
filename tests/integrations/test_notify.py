"""Notifications (M3, M4): the texts people read, and what each channel's server receives.

E-mail, against a real SMTP server, is in test_email.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from switchboard.core.commands import Notify
from switchboard.integrations.notify import Notifier, render
from tests.core.harness import MONDAY_10, config
from tests.integrations.tiny_http import Answer, Seen, TinyHttp, always, closed_port, in_turn

T = TypeVar("T")
TOKEN = "123456:ABC-secret-token"
CALLER = "+380671111111"

CFG = config(f"""
    timezone: Europe/Kyiv
    numbers:
      - {{number: "+380443900300", name: TechnoDim, scheme: main}}
      - {{number: "+380443900301", scheme: main}}
    schemes: {{main: {{rules: [{{name: all, steps: [{{hangup: true}}]}}]}}}}
    notify:
      sales_chat: {{telegram: {{chat_id: "-1001234567002", bot_token: "{TOKEN}"}}}}
      crm_hook: {{webhook: "http://127.0.0.1:1/replaced-in-tests"}}
      admin_sms: {{sms: {{to: "+380501234510"}}}}
      half_telegram: {{telegram: {{chat_id: "-1"}}}}
""")

MISSED = Notify("sales_chat", "missed_call", {
    "number": CALLER, "dialed": "+380443900300", "at": MONDAY_10 + 15 * 60,
    "reason": "abandoned", "queue": "sales", "waited": 83.4,
})
VOICEMAIL = Notify("sales_chat", "voicemail", {
    "number": CALLER, "dialed": "+380443900301", "url": "https://pbx.example.ua/rec/c9.wav",
    "duration": 23.6, "at": MONDAY_10, "box": "sales",
})
CALLBACK_FAILED = Notify("sales_chat", "callback_failed", {
    "number": CALLER, "at": MONDAY_10 + 300, "reason": "missed call",
})


def run(scenario: Coroutine[Any, Any, T], limit: float = 10) -> T:
    return asyncio.run(asyncio.wait_for(scenario, limit))


TELEGRAM_OK = always(Answer(200, {"ok": True}))


async def notify(cmd: Notify, respond: Callable[[Seen], Answer] = TELEGRAM_OK,
                 **options: Any) -> tuple[bool, list[Seen]]:
    """Send ``cmd`` with every HTTP channel pointed at a local server."""
    async with httpx.AsyncClient() as client, TinyHttp(respond) as server:
        targets = dict(CFG.notify)
        targets["crm_hook"] = targets["crm_hook"].model_copy(
            update={"webhook": f"{server.url}/hooks/missed"})
        cfg = CFG.model_copy(update={"notify": targets})
        options.setdefault("telegram_api", server.url)
        options.setdefault("sms_gateway", f"{server.url}/sms/send")
        notifier = Notifier(cfg, client, backoff=0.01, **options)
        return await notifier.send(cmd), server.requests


# ---------------------------------------------------------------- texts


def test_missed_call_text_names_the_number_the_local_time_the_wait_and_why() -> None:
    message = render(MISSED.kind, MISSED.payload, CFG)
    assert message.subject == f"Missed call from {CALLER}"
    assert message.text == (
        f"Missed call from {CALLER}\n"
        "To: TechnoDim (+380443900300)\n"
        "At: 2026-11-23 10:15\n"  # 08:15 UTC is 10:15 in Kyiv
        "Waited 1 min 23 s in queue sales: the caller hung up while waiting"
    )


def test_missed_call_without_a_wait_says_why() -> None:
    payload = {"number": CALLER, "dialed": "+380443900301", "at": MONDAY_10,
               "reason": "after_hours", "queue": None, "waited": 0.0}
    assert render("missed_call", payload, CFG).text == (
        f"Missed call from {CALLER}\nTo: +380443900301\nAt: 2026-11-23 10:00\n"
        "Why: the call came after hours"
    )


def test_voicemail_text_carries_the_recording_link() -> None:
    message = render(VOICEMAIL.kind, VOICEMAIL.payload, CFG)
    assert message.subject == f"Voicemail from {CALLER} (24 s)"
    assert message.text == (
        f"Voicemail from {CALLER} (24 s)\nTo: +380443900301\nAt: 2026-11-23 10:00\n"
        "Listen: https://pbx.example.ua/rec/c9.wav"
    )


def test_callback_failed_text_asks_people_to_call_back() -> None:
    assert render(CALLBACK_FAILED.kind, CALLBACK_FAILED.payload, CFG).text == (
        f"Callback to {CALLER} failed\nAt: 2026-11-23 10:05\nRequested after: missed call\n"
        "Nobody has reached the customer yet: please call back."
    )


# ---------------------------------------------------------------- channels


def test_telegram_gets_send_message_with_the_chat_id_and_the_text() -> None:
    sent, [seen] = run(notify(MISSED))
    assert sent is True
    assert (seen.method, seen.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    body = seen.json()
    assert body["chat_id"] == "-1001234567002"
    assert body["text"] == render(MISSED.kind, MISSED.payload, CFG).text
    assert "parse_mode" not in body  # plain text: nothing in it needs escaping


def test_telegram_voicemail_message_has_the_link() -> None:
    _, [seen] = run(notify(VOICEMAIL))
    assert "Listen: https://pbx.example.ua/rec/c9.wav" in seen.json()["text"]


def test_a_telegram_500_is_retried() -> None:
    sent, requests = run(notify(MISSED, in_turn(Answer(500), Answer(200, {"ok": True}))))
    assert sent is True and len(requests) == 2


def test_a_telegram_refusal_is_not_retried_and_the_token_stays_out_of_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    sent, requests = run(notify(MISSED, always(Answer(403, {"ok": False}))))
    assert sent is False and len(requests) == 1
    assert "HTTP 403" in caplog.text and TOKEN not in caplog.text


def test_an_unreachable_telegram_is_logged_without_the_token(
        caplog: pytest.LogCaptureFixture) -> None:
    sent, _ = run(notify(MISSED, telegram_api=f"http://127.0.0.1:{closed_port()}",
                         attempts=2))
    assert sent is False
    assert "cannot connect" in caplog.text and TOKEN not in caplog.text


def test_a_webhook_target_gets_the_kind_text_and_payload_as_json() -> None:
    sent, [seen] = run(notify(Notify("crm_hook", MISSED.kind, MISSED.payload)))
    assert sent is True
    assert (seen.method, seen.path) == ("POST", "/hooks/missed")
    assert seen.json() == {
        "kind": "missed_call", "target": "crm_hook",
        "text": render(MISSED.kind, MISSED.payload, CFG).text, "payload": MISSED.payload,
    }


def test_sms_goes_to_the_gateway_with_the_number_text_and_token() -> None:
    sent, [seen] = run(notify(Notify("admin_sms", MISSED.kind, MISSED.payload),
                              sms_token="gw-token"))
    assert sent is True
    assert (seen.method, seen.path) == ("POST", "/sms/send")
    assert seen.json() == {"to": "+380501234510",
                           "text": render(MISSED.kind, MISSED.payload, CFG).text}
    assert seen.headers["authorization"] == "Bearer gw-token"


def test_sms_without_a_gateway_is_logged_as_not_configured(
        caplog: pytest.LogCaptureFixture) -> None:
    sent, requests = run(notify(Notify("admin_sms", MISSED.kind, MISSED.payload),
                                sms_gateway=None))
    assert sent is False and requests == []
    assert "SMS is not configured" in caplog.text


def test_an_unknown_target_or_a_half_configured_one_sends_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    sent, requests = run(notify(Notify("nobody", MISSED.kind, MISSED.payload)))
    assert sent is False and requests == []
    sent, requests = run(notify(Notify("half_telegram", MISSED.kind, MISSED.payload)))
    assert sent is False and requests == []
    assert "no target named 'nobody'" in caplog.text
    assert "telegram needs bot_token and chat_id" in caplog.text
