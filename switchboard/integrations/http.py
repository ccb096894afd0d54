"""HTTP integrations: the routing webhook (R6) and the generic CRM connector (R1, M5).

Both carry out core commands and return the answering core event; nothing here raises into
the caller. Every request is bounded by a timeout that covers the wait for a free request
slot, the connection and the whole reply (a total deadline: httpx's own timeouts are per
read, so a peer dripping a byte a second would never trip them), and by ``MAX_REPLY_BYTES``.
Redirects are never followed: the call's data and the signature go only where the config
says. Replies are asked for uncompressed (``Accept-Encoding: identity``) and one compressed
anyway is refused, so a small gzip bomb cannot inflate past the size limit.

**Routing webhook.** ``AskWebhook`` is POSTed as a JSON object (``call_id``, ``caller``,
``dialed``, ``number_name``, ``entities``, ``known_caller``, ``at``). When the webhook has a
``secret`` the request carries ``X-Switchboard-Signature: sha256=<hex>``, the HMAC-SHA256 of
the exact body bytes under the secret; the body's ``at`` (UNIX seconds) lets the receiver
refuse replays. A 2xx reply whose body is a JSON object is the answer (``{"agent": "302"}``,
``{"number": "+380671112233"}``, ``{"scheme": "english"}``; the core checks it); anything else
is a failure with a short reason and the core takes its fallback.

**Generic CRM protocol** (``crm.kind: generic``), relative to ``crm.url``, with
``Authorization: Bearer <crm.token>`` when a token is set:

- ``GET {url}/owner?phone=+380671234567`` -> ``200 {"agent": "201"}`` (the deal owner's agent
  id) or ``200 {"agent": null}`` (no deal, or no owner). Any other reply is a failed lookup.
- ``POST {url}/tasks`` with ``{"number", "assignee" (agent id or null), "due" (ISO 8601,
  UTC), "title", "attachment" (recording URL or null)}`` -> any 2xx. The request carries an
  ``Idempotency-Key`` that stays the same across retries of one task, so a CRM that honours
  it never stores a task twice. Timeouts, connection errors, 429 and 5xx are retried with
  exponential backoff (``Retry-After`` respected up to ``MAX_RETRY_AFTER``); other 4xx are not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from switchboard.config.model import Crm, Endpoint
from switchboard.core.commands import AskWebhook, CreateCrmTask, LookupCrmOwner
from switchboard.core.events import (
    CrmLookupFailed,
    CrmOwnerFound,
    WebhookAnswered,
    WebhookFailed,
)

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 64 * 1024  # a routing answer is tens of bytes; more is a wrong endpoint
MAX_RETRY_AFTER = 30.0  # seconds; a longer Retry-After would stall a "call back" task too long
SIGNATURE_HEADER = "X-Switchboard-Signature"
USER_AGENT = "switchboard"


class ReplyError(Exception):
    """A request that did not give a usable reply; ``str()`` is the short reason.

    ``permanent``: the peer refused the request for good (an SMTP 5xx, say), so ``deliver``
    does not try it again. HTTP requests never set it: their replies say that themselves.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Reply:
    """A peer's HTTP reply. ``body`` is read (within the size limit) for a 2xx when asked."""

    status: int
    body: bytes = b""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Worth trying again: the peer is overloaded or broken, not refusing the request."""
        return self.status == 429 or self.status >= 500


async def send(client: httpx.AsyncClient, slots: asyncio.Semaphore, method: str, url: str,
               timeout: float, *, content: bytes | None = None,
               headers: Mapping[str, str] | None = None,
               params: Mapping[str, str] | None = None, read_body: bool = True) -> Reply:
    """One HTTP request within ``timeout`` seconds in all; ReplyError when none came back.

    ``read_body=False``: a 2xx counts once its status line is in, whatever its body does
    (one-way sends: a peer that accepted must not get the message again).
    Reasons never contain the URL: a Telegram URL carries the bot token.
    """
    try:
        async with asyncio.timeout(timeout):
            async with slots:
                request = client.build_request(
                    method, url, content=content,
                    headers={"Accept-Encoding": "identity", **(headers or {})},
                    params=params, timeout=httpx.Timeout(timeout),
                )
                # Also when the client passed in follows redirects: see the module doc.
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    if not 200 <= response.status_code < 300:
                        return Reply(response.status_code, b"", _retry_after(response))
                    if not read_body:
                        return Reply(response.status_code)
                    return Reply(response.status_code, await _read_limited(response))
                finally:
                    await response.aclose()
    except UnicodeEncodeError:  # httpx sends header values as ASCII; a pasted token may not be
        raise ReplyError("a header is not ASCII") from None
    except (TimeoutError, httpx.TimeoutException):
        raise ReplyError("timeout") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise ReplyError("bad URL") from None
    except httpx.ConnectError:
        raise ReplyError("cannot connect") from None
    except httpx.RemoteProtocolError:
        raise ReplyError("broken HTTP reply") from None
    except httpx.HTTPError as exc:
        raise ReplyError(f"request failed ({type(exc).__name__})") from None


async def _read_limited(response: httpx.Response) -> bytes:
    if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
        raise ReplyError("compressed reply")  # we asked for identity; see the module doc
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        raise ReplyError(f"reply over {MAX_REPLY_BYTES} bytes")
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_REPLY_BYTES:  # the declared length may lie or be missing
            raise ReplyError(f"reply over {MAX_REPLY_BYTES} bytes")
    return bytes(body)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value else None
    except ValueError:  # the HTTP-date form: rare enough to fall back to our own backoff
        return None


def json_object(reply: Reply) -> dict[str, object]:
    """The reply's JSON object, or ReplyError saying why it is not one."""
    if not reply.ok:
        raise ReplyError(f"HTTP {reply.status}")
    try:
        value = json.loads(reply.body)
    except (ValueError, RecursionError):  # UnicodeDecodeError; "[[[[..." nested too deep
        raise ReplyError("reply is not JSON") from None
    if not isinstance(value, dict):
        raise ReplyError("reply is not a JSON object")
    return value


def redact(url: str | httpx.URL) -> str:
    """``url`` fit for a log line: its scheme, host and port, nothing else.

    User info (``user:password@``), the query (``?api_key=``) and the path (Telegram's
    ``/bot<token>/``, a chat service's capability URL) can each carry a secret.
    """
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        return "<not a URL>"
    if not parsed.scheme or not parsed.host:
        return "<not a URL>"
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}/..."


class RedactedUrls(logging.Filter):
    """Redacts the URLs in httpx's own log lines (``HTTP Request: POST <url> ...`` at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, httpx.URL) else arg
                                for arg in record.args)
        return True


def redact_httpx_log() -> None:
    """Put ``RedactedUrls`` on the ``httpx`` logger, once however often it is called."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactedUrls) for f in httpx_log.filters):
        httpx_log.addFilter(RedactedUrls())


def json_body(value: object) -> bytes:
    """Compact UTF-8 JSON; odd values (a float timestamp is fine) fall back to ``str``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def sign(secret: str, body: bytes) -> str:
    """The ``X-Switchboard-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(attempt: Callable[[], Awaitable[Reply]], what: str, attempts: int,
                  backoff: float) -> bool:
    """Try ``attempt`` up to ``attempts`` times; True once it gets a 2xx. Never raises.

    Waits ``backoff * 2**n`` seconds (or the peer's Retry-After) between tries; a 4xx other
    than 429 is final, since sending the same request again cannot fix it, and so is a
    ``ReplyError`` marked ``permanent``. ``attempt``
    should use ``send(..., read_body=False)``: a 2xx whose body then fails was still
    accepted, and trying again would deliver twice.
    """
    for n in range(attempts):
        delay = backoff * 2**n
        try:
            reply = await attempt()
        except ReplyError as err:
            problem = str(err)
            if err.permanent:
                log.warning("%s failed: %s (permanent: not retried)", what, problem)
                return False
        except Exception:  # a bug must not kill the task silently: log it, give up
            log.exception("%s: unexpected error", what)
            return False
        else:
            if reply.ok:
                return True
            problem = f"HTTP {reply.status}"
            if not reply.retryable:
                log.warning("%s failed: %s (not retried)", what, problem)
                return False
            if reply.retry_after is not None:
                delay = max(delay, reply.retry_after)
        if n + 1 < attempts:
            log.info("%s failed: %s; try %d of %d in %.1f s", what, problem, n + 2, attempts,
                     delay)
            await asyncio.sleep(delay)
        else:
            log.warning("%s failed: %s; gave up after %d tries", what, problem, attempts)
    return False


class WebhookRouter:
    """Carries out ``AskWebhook``: the routing webhook (R6)."""

    def __init__(self, endpoints: Mapping[str, Endpoint], client: httpx.AsyncClient,
                 slots: asyncio.Semaphore | None = None) -> None:
        # The core sends the endpoint's URL; the secret and the endpoint's own timeout are
        # found by it. A step that names a bare URL has neither.
        self._by_url = {endpoint.url: endpoint for endpoint in endpoints.values()}
        self._names = {endpoint.url: name for name, endpoint in endpoints.items()}
        self._client = client
        self._slots = slots or asyncio.Semaphore(8)

    async def ask(self, cmd: AskWebhook) -> WebhookAnswered | WebhookFailed:
        """POST the payload; the reply's JSON object, or why there is none."""
        endpoint = self._by_url.get(cmd.endpoint)
        timeout = min(cmd.timeout, endpoint.timeout) if endpoint else cmd.timeout
        body = json_body(cmd.payload)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if endpoint is not None and endpoint.secret:
            headers[SIGNATURE_HEADER] = sign(endpoint.secret, body)
        try:
            reply = await send(self._client, self._slots, "POST", cmd.endpoint, timeout,
                               content=body, headers=headers)
            target = json_object(reply)
        except ReplyError as err:
            where = self._names.get(cmd.endpoint) or redact(cmd.endpoint)  # no secrets
            log.warning("routing webhook %s for call %s: %s", where, cmd.call_id, err)
            return WebhookFailed(cmd.call_id, cmd.request_id, str(err))
        return WebhookAnswered(cmd.call_id, cmd.request_id, target)


class CrmClient:
    """The ``generic`` CRM: deal-owner lookups (R1) and "call back" tasks (M5)."""

    def __init__(self, crm: Crm, client: httpx.AsyncClient,
                 slots: asyncio.Semaphore | None = None, *, task_attempts: int = 4,
                 backoff: float = 1.0, task_slots: asyncio.Semaphore | None = None) -> None:
        self._crm = crm
        self._base = crm.url.rstrip("/")
        self._client = client
        self._slots = slots or asyncio.Semaphore(8)
        # Tasks may have their own slots, so a dead CRM's tasks never hold up the lookups.
        self._task_slots = task_slots or self._slots
        self._task_attempts = task_attempts
        self._backoff = backoff

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._crm.token:
            headers["Authorization"] = f"Bearer {self._crm.token}"
        return headers

    async def lookup_owner(self, cmd: LookupCrmOwner) -> CrmOwnerFound | CrmLookupFailed:
        """``GET /owner?phone=``: the deal owner's agent id, None, or why the CRM failed."""
        try:
            reply = await send(self._client, self._slots, "GET", f"{self._base}/owner",
                               min(cmd.timeout, self._crm.timeout), headers=self._headers(),
                               params={"phone": cmd.caller})
            agent = _agent_of(json_object(reply))
        except ReplyError as err:
            log.warning("CRM owner lookup for call %s: %s", cmd.call_id, err)
            return CrmLookupFailed(cmd.call_id, cmd.request_id, str(err))
        return CrmOwnerFound(cmd.call_id, cmd.request_id, agent)

    async def create_task(self, cmd: CreateCrmTask) -> bool:
        """``POST /tasks`` with retries; True when the CRM took it. Failures are logged."""
        body = json_body({
            "number": cmd.number,
            "assignee": cmd.assignee,
            "due": dt.datetime.fromtimestamp(cmd.due, dt.UTC).isoformat(),
            "title": cmd.title,
            "attachment": cmd.attachment,
        })
        headers = {**self._headers(), "Content-Type": "application/json",
                   "Idempotency-Key": uuid.uuid4().hex}

        def attempt() -> Awaitable[Reply]:
            return send(self._client, self._task_slots, "POST", f"{self._base}/tasks",
                        self._crm.timeout, content=body, headers=headers, read_body=False)

        return await deliver(attempt, f"CRM task for {cmd.number}", self._task_attempts,
                             self._backoff)


def _agent_of(reply: dict[str, object]) -> str | None:
    if "agent" not in reply:
        raise ReplyError("reply has no 'agent'")
    agent = reply["agent"]
    if agent is None or agent == "":
        return None
    # Agent ids are strings, but a CRM storing extensions as numbers sends 201.
    if isinstance(agent, int) and not isinstance(agent, bool):
        return str(agent)
    if isinstance(agent, str):
        return agent
    raise ReplyError("'agent' is not a string")
