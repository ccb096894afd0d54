"""Digest authentication (RFC 7616, RFC 2617; SIP: RFC 3261 §22, RFC 8760), both sides. No IO.

Server: ``DigestServer`` issues challenges whose nonce is ``timestamp + HMAC(secret, ...)``,
so nothing is stored and nonces expire; the caller passes ``now`` (no clock inside).
``verify`` says ``OK``, ``STALE`` (right password, old nonce: challenge again with
``stale=true``) or ``WRONG``. Client: ``authorize`` answers a challenge; the caller passes the
``cnonce`` (no randomness inside).

Nonces are not remembered, so a captured ``Authorization`` can be replayed until its nonce
expires; keep ``nonce_lifetime`` short or track ``nc`` per nonce above this layer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from switchboard.sip import LocalProtocolError, SipParseError
from switchboard.sip.headers import Uri, parse_uri, quote, unquote
from switchboard.sip.message import Request, Response

_HASHES: Final = {"MD5": "md5", "SHA-256": "sha256"}
ALGORITHMS: Final = ("SHA-256", "MD5", "SHA-256-sess", "MD5-sess")
"""Supported algorithms, strongest first (RFC 8760 §2.4: SHA-256 before MD5)."""


class Verdict(StrEnum):
    """Outcome of ``DigestServer.verify``."""

    OK = "ok"
    STALE = "stale"  # the digest is right but the nonce expired: re-challenge, stale=true
    WRONG = "wrong"  # wrong password, user, realm, URI, or a nonce we never issued


def _canonical_algorithm(name: str) -> str | None:
    return next((a for a in ALGORITHMS if a.lower() == name.lower()), None)


def _h(algorithm: str, text: str) -> str:
    base = algorithm.removesuffix("-sess")
    return hashlib.new(_HASHES[base], text.encode()).hexdigest()


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """``H(username:realm:password)``: what a server may store instead of the password."""
    algorithm = _canonical_algorithm(algorithm) or ""
    if not algorithm:
        raise LocalProtocolError("unsupported digest algorithm")
    return _h(algorithm, f"{username}:{realm}:{password}")


def compute_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    cnonce: str | None,
    nc: str | None,
    body: bytes = b"",
) -> str:
    """The ``response`` value of RFC 7616 §3.4.1 (RFC 2069 form when ``qop`` is None)."""
    canonical = _canonical_algorithm(algorithm)
    if canonical is None:
        raise LocalProtocolError(f"unsupported digest algorithm {algorithm!r}")
    if canonical.endswith("-sess"):
        ha1 = _h(canonical, f"{ha1}:{nonce}:{cnonce}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hashlib.new(_HASHES[canonical.removesuffix("-sess")], body).hexdigest()
    ha2 = _h(canonical, a2)
    if qop is None:
        return _h(canonical, f"{ha1}:{nonce}:{ha2}")
    return _h(canonical, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# ---------------------------------------------------------------------------------------------
# Header values

_AUTH_PARAM_RE: Final = re.compile(
    r'[ \t]*([A-Za-z0-9\-_.]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^\s,"]+)[ \t]*(?:,|\Z)', re.S
)
_SCHEME_RE: Final = re.compile(r"[ \t]*([A-Za-z0-9\-_.]+)(?:[ \t]+|\Z)")


def parse_auth_params(value: str, *, status: int | None = 400) -> tuple[str, dict[str, str]]:
    """``Digest a=1, b="x"`` -> ``("Digest", {"a": "1", "b": "x"})``; names lower-cased.

    Raises ``SipParseError`` with ``status`` (400 for credentials, None for challenges).
    """
    m = _SCHEME_RE.match(value)
    if m is None:
        raise SipParseError(f"bad authentication header {value[:80]!r}", status)
    params: dict[str, str] = {}
    pos = m.end()
    while pos < len(value):
        p = _AUTH_PARAM_RE.match(value, pos)
        if p is None or p.end() == pos:
            raise SipParseError(f"bad authentication parameters {value[:80]!r}", status)
        name = p.group(1).lower()
        if name in params:
            raise SipParseError(f"repeated authentication parameter {name!r}", status)
        params[name] = unquote(p.group(2))
        pos = p.end()
    return m.group(1), params


def _require(params: dict[str, str], names: Iterable[str], status: int | None) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        raise SipParseError(f"digest without {', '.join(missing)}", status)


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """Parse a challenge; raises ``SipParseError`` (status None: it came in a response)."""
        scheme, params = parse_auth_params(value, status=None)
        if scheme.lower() != "digest":
            raise SipParseError(f"not a Digest challenge: {scheme!r}", None)
        _require(params, ("realm", "nonce"), None)
        qop = tuple(q.strip() for q in params["qop"].split(",")) if "qop" in params else ()
        return cls(
            params["realm"],
            params["nonce"],
            params.get("algorithm", "MD5"),
            qop,
            params.get("opaque"),
            params.get("stale", "").lower() == "true",
        )

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Credentials:
    """An ``Authorization`` / ``Proxy-Authorization`` Digest answer."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    cnonce: str | None = None
    nc: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, value: str) -> Credentials:
        """Parse credentials; raises ``SipParseError`` (400)."""
        scheme, params = parse_auth_params(value)
        if scheme.lower() != "digest":
            raise SipParseError(f"not Digest credentials: {scheme!r}")
        _require(params, ("username", "realm", "nonce", "uri", "response"), 400)
        return cls(
            params["username"],
            params["realm"],
            params["nonce"],
            params["uri"],
            params["response"],
            params.get("algorithm", "MD5"),
            params.get("qop"),
            params.get("cnonce"),
            params.get("nc"),
            params.get("opaque"),
        )

    def __str__(self) -> str:
        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
            f"response={quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        if self.cnonce is not None:
            parts.append(f"cnonce={quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Server side

_NC_RE: Final = re.compile(r"[0-9A-Fa-f]{8}")
_CLOCK_SKEW: Final = 5.0  # seconds a nonce may come "from the future" (clock steps, clusters)


class DigestServer:
    """Stateless challenges and verification for one realm.

    ``secret`` keys the nonce HMAC (share it between nodes that must accept each other's
    nonces). ``bind`` (e.g. the client's IP) ties a nonce to what it was issued for.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        nonce_lifetime: float = 300.0,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        opaque: str | None = None,
    ) -> None:
        if len(secret) < 16:
            raise LocalProtocolError("the nonce secret must have at least 16 bytes")
        chosen = tuple(_canonical_algorithm(a) for a in algorithms)
        if not chosen or any(a is None or a.endswith("-sess") for a in chosen):
            raise LocalProtocolError(f"unsupported challenge algorithms {algorithms!r}")
        self.realm = realm
        self.algorithms: tuple[str, ...] = tuple(a for a in chosen if a is not None)
        self._secret = secret
        self._lifetime = nonce_lifetime
        self._opaque = opaque

    def nonce(self, now: float, bind: str = "") -> str:
        """A nonce for time ``now`` (seconds, any epoch the caller keeps using)."""
        stamp = int(now * 1000)
        if stamp < 0:
            raise LocalProtocolError("now must not be negative")
        return self._nonce(stamp.to_bytes(8, "big"), bind)

    def _nonce(self, raw: bytes, bind: str) -> str:
        message = raw + b"\x00" + self.realm.encode() + b"\x00" + bind.encode()
        mac = hmac.new(self._secret, message, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(raw + mac).decode()  # 32 characters, no padding

    def nonce_age(self, nonce: str, now: float, bind: str = "") -> float | None:
        """Seconds since ``nonce`` was issued, or ``None`` when we did not issue it."""
        if len(nonce) != 32:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce)[:8]
        except (binascii.Error, ValueError):
            return None
        expected = self._nonce(raw, bind)
        if len(raw) != 8 or not hmac.compare_digest(expected.encode(), nonce.encode()):
            return None
        return now - int.from_bytes(raw, "big") / 1000

    def challenges(self, now: float, *, stale: bool = False, bind: str = "") -> list[Challenge]:
        """One challenge per algorithm, strongest first, sharing one nonce."""
        nonce = self.nonce(now, bind)
        return [
            Challenge(self.realm, nonce, algorithm, ("auth",), self._opaque, stale)
            for algorithm in self.algorithms
        ]

    def challenge_headers(
        self, now: float, *, proxy: bool = False, stale: bool = False, bind: str = ""
    ) -> list[tuple[str, str]]:
        """Headers for a 401 (or 407 when ``proxy``): pass them to ``make_response``."""
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        return [(name, str(c)) for c in self.challenges(now, stale=stale, bind=bind)]

    def credentials(self, request: Request, *, proxy: bool = False) -> Credentials | None:
        """The request's Digest credentials for our realm; raises ``SipParseError`` (400)."""
        name = "Proxy-Authorization" if proxy else "Authorization"
        for value in request.headers.get_all(name):
            if (value.split(None, 1) or [""])[0].lower() != "digest":
                continue  # another scheme (Basic ...): not ours
            credentials = Credentials.parse(value)
            if credentials.realm == self.realm:
                return credentials
        return None

    def verify(
        self,
        credentials: Credentials,
        *,
        method: str,
        now: float,
        password: str | None = None,
        ha1: str | Mapping[str, str] | None = None,
        uri: Uri | str | None = None,
        body: bytes = b"",
        bind: str = "",
    ) -> Verdict:
        """Check ``credentials`` for a request ``method`` (and its Request-URI ``uri``).

        Give the ``password``, or ``ha1``: one hex string for the credentials' algorithm,
        or a mapping ``{"MD5": ..., "SHA-256": ...}``.
        """
        if (password is None) == (ha1 is None):
            raise LocalProtocolError("give exactly one of password and ha1")
        algorithm = _canonical_algorithm(credentials.algorithm)
        if (
            algorithm is None
            or credentials.realm != self.realm
            or algorithm not in self.algorithms
            or (uri is not None and not _same_uri(credentials.uri, uri))
            or (self._opaque is not None and credentials.opaque != self._opaque)
        ):
            return Verdict.WRONG
        age = self.nonce_age(credentials.nonce, now, bind)
        if age is None:
            return Verdict.WRONG
        qop = credentials.qop
        if qop is not None and (
            qop not in ("auth", "auth-int")
            or not credentials.cnonce
            or not _NC_RE.fullmatch(credentials.nc or "")
        ):
            return Verdict.WRONG
        if password is not None:
            secret = compute_ha1(algorithm, credentials.username, self.realm, password)
        elif isinstance(ha1, str):
            secret = ha1
        else:
            assert ha1 is not None
            found = ha1.get(algorithm)
            if found is None:
                return Verdict.WRONG
            secret = found
        expected = compute_response(
            algorithm=algorithm, ha1=secret.lower(), nonce=credentials.nonce, method=method,
            uri=credentials.uri, qop=qop, cnonce=credentials.cnonce, nc=credentials.nc,
            body=body,
        )  # fmt: skip
        if not hmac.compare_digest(expected.encode(), credentials.response.lower().encode()):
            return Verdict.WRONG
        if age > self._lifetime or age < -_CLOCK_SKEW:
            return Verdict.STALE
        return Verdict.OK


def _same_uri(text: str, uri: Uri | str) -> bool:
    if text == str(uri):
        return True
    try:
        mine = parse_uri(uri) if isinstance(uri, str) else uri
        return parse_uri(text).equivalent(mine)
    except SipParseError:
        return False


# ---------------------------------------------------------------------------------------------
# Client side


def challenges_in(response: Response) -> list[Challenge]:
    """The Digest challenges of a 401/407 we can answer, strongest algorithm first."""
    name = "Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate"
    found = []
    for value in response.headers.get_all(name):
        try:
            challenge = Challenge.parse(value)
        except SipParseError:
            continue  # another scheme, or junk: try the next one
        if _canonical_algorithm(challenge.algorithm) is not None and (
            not challenge.qop or "auth" in challenge.qop or "auth-int" in challenge.qop
        ):  # what authorize() can answer; a peer's other qop values are not our misuse
            found.append(challenge)
    rank = {a.lower(): i for i, a in enumerate(ALGORITHMS)}
    return sorted(found, key=lambda c: rank[c.algorithm.lower()])


def authorize(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> Credentials:
    """Credentials answering ``challenge`` for a request ``method`` to ``uri``.

    Uses qop=auth when offered (auth-int when only that is), RFC 2069 style when there is
    no qop. ``cnonce`` must be fresh and unpredictable (``secrets.token_hex(8)``); ``nc``
    counts the requests sent with this nonce.
    """
    algorithm = _canonical_algorithm(challenge.algorithm)
    if algorithm is None:
        raise LocalProtocolError(f"unsupported digest algorithm {challenge.algorithm!r}")
    if "auth" in challenge.qop:
        qop: str | None = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    elif challenge.qop:
        raise LocalProtocolError(f"no supported qop in {challenge.qop!r}")
    else:
        qop = None
    count = f"{nc:08x}" if qop else None
    ha1 = compute_ha1(algorithm, username, challenge.realm, password)
    response = compute_response(
        algorithm=algorithm, ha1=ha1, nonce=challenge.nonce, method=method, uri=uri, qop=qop,
        cnonce=cnonce if qop else None, nc=count, body=body,
    )  # fmt: skip
    return Credentials(
        username, challenge.realm, challenge.nonce, uri, response, challenge.algorithm, qop,
        cnonce if qop else None, count, challenge.opaque,
    )  # fmt: skip
