"""Hostile tokens, failing issuers and a short soak, against the generated service over real HTTP.

Unit-level cases (RFC 7515/8037 vectors, hypothesis over the middleware) live in the generated
project's own tests. Here the real `serve` process verifies tokens of a real issuer process
(`tests/issuer_server.py`, whose `/_control/sign` signs any header and payload with the issuer's
own keys, and whose `/_control/fault` makes its documents misbehave), everything on loopback.

Services are started with the project's console script (`.venv/bin/<slug> serve`), not `uv run`,
so that the process we start is the service itself: its RSS is what the soak measures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import math
import re
import secrets
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import cycle
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from conftest import Installed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from processes import (
    COOLDOWN,
    JWKS_PATH,
    LOOPBACK,
    POLL_SECONDS,
    REALM,
    SLUG,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Issuer,
    Service,
    b64url,
    run_command,
    running_issuer,
    running_service,
    service_env,
    tamper,
)

AUDIENCE: Final = "api://adversarial"
HTTP_TIMEOUT: Final = 1.0  # AUTH_HTTP_TIMEOUT of the services that meet a slow issuer
TIMEOUT_SLACK: Final = 3.0  # what CI may add to AUTH_HTTP_TIMEOUT before an answer is "late"
RECOVERY_TIMEOUT: Final = 20.0
REQUEST_TIMEOUT: Final = 10.0  # client side: far above any answer the service should take
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"

CHALLENGE: Final = f'Bearer realm="{REALM}"'
INVALID: Final = (
    f'{CHALLENGE}, error="invalid_token", error_description="The access token is invalid."'
)
EXPIRED: Final = (
    f'{CHALLENGE}, error="invalid_token", error_description="The access token expired."'
)
DETAILS: Final = {
    CHALLENGE: "Authentication is required.",
    INVALID: "The access token is invalid.",
    EXPIRED: "The access token expired.",
}
KTY: Final = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
"""Key type of an algorithm, by the algorithm's first two letters."""
ISSUER_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA")
"""Every algorithm the test issuer signs with (and the default variant allows)."""
MAX_HEADER_BYTES: Final = 3 * 1024 * 1024


# --- tokens ------------------------------------------------------------------------------------


class Omit:
    """The type of `OMIT`."""


OMIT: Final = Omit()
"""As a claim or header value: leave that member out."""


def compact(header: dict[str, Any] | bytes, payload: bytes, signature: bytes = b"") -> str:
    """A compact JWS from its parts, whatever they hold (a dict header is JSON-encoded)."""
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    return f"{b64url(encoded)}.{b64url(payload)}.{b64url(signature)}"


def with_member(document: dict[str, Any], name: str, raw_json: str) -> bytes:
    """`document` as JSON with `name` set to `raw_json`, verbatim (`1e400`, `NaN`, ...)."""
    text = json.dumps({key: value for key, value in document.items() if key != name})
    return f'{text[:-1]}, "{name}": {raw_json}}}'.encode()


def nested(depth: int) -> bytes:
    """A JSON text of `depth` nested arrays."""
    return b"[" * depth + b"]" * depth


def uint(data: str) -> int:
    """The unsigned integer of a base64url JWK member."""
    return int.from_bytes(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)), "big")


class Forge:
    """Builds tokens: genuine ones signed by the issuer, hostile ones signed by anyone."""

    def __init__(self, issuer: Issuer, decoy_url: str = "") -> None:
        """Read the issuer's keys, and make the attacker's own RSA key and certificate."""
        self.issuer = issuer
        self.decoy_url = decoy_url
        self.attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.attacker.public_key().public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        self.attacker_jwk = {
            "kty": "RSA",
            "kid": "attacker",
            "use": "sig",
            "n": b64url(numbers.n.to_bytes(size, "big")),
            "e": b64url(numbers.e.to_bytes(3, "big")),
        }
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.attacker.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.attacker, hashes.SHA256())
        )
        self.attacker_pem = certificate.public_bytes(serialization.Encoding.PEM)
        self.attacker_x5c = base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)
        ).decode()
        self.refresh()

    def refresh(self) -> None:
        """Read the issuer's current kids and RSA public key (again, after a rotation)."""
        keys = self.issuer.jwks()["keys"]
        self.kids = {key["kty"]: key["kid"] for key in keys}
        rsa_jwk = next(key for key in keys if key["kty"] == "RSA")
        self.issuer_rsa = rsa.RSAPublicNumbers(uint(rsa_jwk["e"]), uint(rsa_jwk["n"])).public_key()

    def public_key_bytes(self, encoding: serialization.Encoding) -> bytes:
        """The issuer's RSA public key as a SubjectPublicKeyInfo, the usual HMAC-confusion key."""
        return self.issuer_rsa.public_bytes(
            encoding, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, **changes: object) -> dict[str, Any]:
        """Valid claims (unique `jti`, so no token repeats), with `changes`; OMIT removes."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer.url,
            "sub": "adversary",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
            "jti": secrets.token_hex(8),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not OMIT}

    def payload(self, **changes: object) -> bytes:
        """`claims(**changes)` as JSON."""
        return json.dumps(self.claims(**changes)).encode()

    def header(self, algorithm: str = "RS256", /, **changes: object) -> dict[str, Any]:
        """The header the issuer would write for `algorithm`, with `changes`; OMIT removes."""
        kid = self.kids[KTY.get(algorithm[:2], "RSA")]  # none and HS* claim the RSA key
        header: dict[str, Any] = {"alg": algorithm, "typ": "JWT", "kid": kid}
        header.update(changes)
        return {name: value for name, value in header.items() if value is not OMIT}

    def signed(
        self,
        alg: str = "RS256",
        *,
        header: dict[str, Any] | None = None,
        payload: bytes | None = None,
    ) -> str:
        """`header` and `payload` (default: genuine ones) signed by the issuer's key for `alg`."""
        return self.issuer.sign_exactly(
            alg,
            self.header(alg) if header is None else header,
            self.payload() if payload is None else payload,
        )

    def valid(self, alg: str = "RS256", **changes: object) -> str:
        """A genuine token of the issuer for `alg`, with claim `changes`."""
        return self.signed(alg, payload=self.payload(**changes))

    def by_attacker(self, header: dict[str, Any], payload: bytes | None = None) -> str:
        """`header` and a genuine-looking payload, RS256-signed by the attacker's own key."""
        head = f"{b64url(json.dumps(header).encode())}.{b64url(payload or self.payload())}"
        signature = self.attacker.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{b64url(signature)}"

    def relabelled(self, alg: str) -> str:
        """A genuine RS256 token whose header is replaced by one that says `alg`."""
        _, payload, signature = self.valid().split(".")
        return f"{b64url(json.dumps(self.header(alg)).encode())}.{payload}.{signature}"

    def mac_signed(self, alg: str, secret: bytes) -> str:
        """A token whose header says `alg` (HS*), MAC-ed with `secret`, claiming the RSA kid."""
        head = f"{b64url(json.dumps(self.header(alg, kid=self.kids['RSA'])).encode())}"
        head = f"{head}.{b64url(self.payload())}"
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return f"{head}.{b64url(hmac.new(secret, head.encode(), digest).digest())}"

    def bad_time(self, name: str, raw_json: str) -> str:
        """A genuine token whose `name` claim is `raw_json`, verbatim."""
        return self.signed(payload=with_member(self.claims(), name, raw_json))


# --- the decoy listener ------------------------------------------------------------------------


class DecoyHandler(BaseHTTPRequestHandler):
    """Serves the attacker's JWKS and certificate: a verifier that followed a token would win."""

    server: DecoyServer

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the connection count is what matters."""

    def do_GET(self) -> None:
        """Answer any path with the attacker's keys."""
        body = json.dumps({"keys": [self.server.jwk]}).encode()
        if self.path.endswith(".pem"):
            body = self.server.pem
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class DecoyServer(ThreadingHTTPServer):
    """A loopback listener that counts every connection made to it."""

    jwk: dict[str, str]
    pem: bytes
    connections: int = 0

    def verify_request(self, request: object, client_address: object) -> bool:
        """Count the connection, then serve it."""
        self.connections += 1
        return True


@contextlib.contextmanager
def decoy_listener() -> Iterator[DecoyServer]:
    """A `DecoyServer` on a free loopback port, served from a thread, shut down on exit."""
    server = DecoyServer((LOOPBACK, 0), DecoyHandler)
    thread = threading.Thread(target=server.serve_forever, name="decoy", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT)


# --- services and load -------------------------------------------------------------------------


def serving(
    project: Installed, log: Path, **env: str
) -> contextlib.AbstractContextManager[Service]:
    """The project's `serve` console script on a free port: the started process is the service."""
    return running_service(project, "serve", log, env=env, direct=True)


@dataclass(frozen=True)
class Backed:
    """A running service, the issuer it trusts, and a forge for that issuer's tokens."""

    service: Service
    issuer: Issuer
    forge: Forge


@dataclass(frozen=True)
class Outcome:
    """What one request got."""

    status: int
    seconds: float
    challenge: str | None
    retry_after: str | None


async def _get_each(port: int, tokens: Sequence[str], concurrency: int) -> list[Outcome]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://{LOOPBACK}:{port}",
        timeout=REQUEST_TIMEOUT,
        limits=limits,
        trust_env=False,
    ) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(token: str) -> Outcome:
            async with gate:
                began = time.monotonic()
                response = await client.get(
                    "/protected", headers={"Authorization": f"Bearer {token}"}
                )
                return Outcome(
                    response.status_code,
                    time.monotonic() - began,
                    response.headers.get("WWW-Authenticate"),
                    response.headers.get("Retry-After"),
                )

        return list(await asyncio.gather(*(one(token) for token in tokens)))


def get_each(service: Service, tokens: Sequence[str], concurrency: int) -> list[Outcome]:
    """GET /protected once per token, `concurrency` requests at a time."""
    return asyncio.run(_get_each(service.port, tokens, concurrency))


def wait_until(condition: Callable[[], bool], timeout: float, what: str, service: Service) -> None:
    """Poll `condition` until it holds; fail with the service's log after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s\n{service.process.report()}")
        time.sleep(POLL_SECONDS / 2)


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of process `pid` (`VmHWM`: its peak so far), from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for pid {pid}")


def raw_request(port: int, head: bytes, timeout: float) -> bytes:
    """Send `head` on a fresh connection while reading; return all that came back (bounded)."""
    received = bytearray()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:

        def send() -> None:
            with contextlib.suppress(OSError):  # the server may close before it read it all
                connection.sendall(head)

        sender = threading.Thread(target=send, name="raw-sender", daemon=True)
        sender.start()
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline and (chunk := connection.recv(65536)):
                received += chunk
        sender.join(timeout=timeout)
    return bytes(received)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the logs of this module's processes."""
    return tmp_path_factory.mktemp("adversarial-logs")


@pytest.fixture(scope="module")
def decoy() -> Iterator[DecoyServer]:
    """The listener that `jku` and `x5u` headers point at; it must never be contacted."""
    with decoy_listener() as server:
        yield server


@pytest.fixture(scope="module")
def target(installed_default: Installed, decoy: DecoyServer, logs: Path) -> Iterator[Backed]:
    """ONE default `serve` process (audience set) for the attack table and the soak."""
    with running_issuer(logs / "target-issuer.log") as issuer:
        forge = Forge(issuer, decoy_url=f"http://{LOOPBACK}:{decoy.server_port}")
        decoy.jwk, decoy.pem = forge.attacker_jwk, forge.attacker_pem
        with serving(
            installed_default,
            logs / "target.log",
            AUTH_ISSUER=issuer.url,
            AUTH_AUDIENCE=AUDIENCE,
        ) as service:
            service.wait_for("/ready", 200, START_TIMEOUT)
            yield Backed(service, issuer, forge)


# --- the attack table --------------------------------------------------------------------------

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Attack:
    """A hostile request and the exact answer it must get."""

    name: str
    build: Callable[[Forge], Headers]
    challenge: str = INVALID
    status: int = 401


def bearer(make: Callable[[Forge], str]) -> Callable[[Forge], Headers]:
    """Headers carrying the token that `make` builds as a bearer token."""
    return lambda forge: [("Authorization", f"Bearer {make(forge)}")]


def attack(name: str, make: Callable[[Forge], str], challenge: str = INVALID) -> Attack:
    """An attack whose request is one bearer token."""
    return Attack(name, bearer(make), challenge)


NOW = int(time.time())  # only for claim values that are far from now anyway
# A value of each wrong type for exp/nbf/iat; the string and list would pass if coerced.
BAD_TIME_VALUES: Final = {
    "null": "null",
    "string": f'"{NOW + 86400}"',
    "list": f"[{NOW + 86400}]",
    "true": "true",
    "float-beyond-range": "1e400",
    "integer-beyond-float": "1" + "0" * 400,
    "nan": "NaN",
}

ATTACKS: Final = [
    # Schemes and headers.
    Attack("no-authorization-header", lambda forge: [], CHALLENGE),
    Attack("basic-scheme", lambda forge: [("Authorization", "Basic dXNlcjpwYXNz")], CHALLENGE),
    Attack("empty-authorization-header", lambda forge: [("Authorization", "")], CHALLENGE),
    Attack("bearer-without-token", lambda forge: [("Authorization", "Bearer")]),
    Attack("bearer-two-words", lambda forge: [("Authorization", f"Bearer {forge.valid()} x")]),
    Attack(
        "two-authorization-headers",
        lambda forge: [
            ("Authorization", f"Bearer {forge.valid()}"),
            ("Authorization", f"Bearer {forge.valid()}"),
        ],
    ),
    # Signatures.
    attack("forged-signature", lambda forge: tamper(forge.valid())),
    attack("stripped-signature", lambda forge: forge.valid().rpartition(".")[0] + "."),
    attack(
        "signature-of-another-token",
        lambda forge: forge.valid().rpartition(".")[0] + "." + forge.valid().rpartition(".")[2],
    ),
    attack("signed-by-key-not-in-jwks", lambda forge: forge.by_attacker(forge.header(kid=OMIT))),
    attack("signed-by-impostor-with-issuer-kid", lambda forge: forge.by_attacker(forge.header())),
    # Algorithms.
    *(
        attack(f"alg-{alg}", lambda forge, alg=alg: compact(forge.header(alg), forge.payload()))
        for alg in ("none", "None", "NONE", "nOnE")
    ),
    attack("alg-none-over-genuine-signature", lambda forge: forge.relabelled("none")),
    attack(
        "hs256-keyed-with-public-key-pem",
        lambda forge: forge.mac_signed("HS256", forge.public_key_bytes(serialization.Encoding.PEM)),
    ),
    attack(
        "hs256-keyed-with-public-key-der",
        lambda forge: forge.mac_signed("HS256", forge.public_key_bytes(serialization.Encoding.DER)),
    ),
    attack(
        "hs512-outside-allow-list",
        lambda forge: forge.mac_signed("HS512", forge.public_key_bytes(serialization.Encoding.PEM)),
    ),
    *(
        attack(
            f"alg-{name}-over-genuine-rs256-signature",
            lambda forge, alg=alg: forge.signed(header=forge.header("RS256", alg=alg)),
        )
        for name, alg in (
            ("rs1", "RS1"),
            ("lowercase-rs256", "rs256"),
            ("missing", OMIT),
            ("list", ["RS256"]),
        )
    ),
    attack(
        "rsa-kid-with-es256",
        lambda forge: forge.signed("ES256", header=forge.header("ES256", kid=forge.kids["RSA"])),
    ),
    attack(
        "ec-kid-with-rs256",
        lambda forge: forge.signed("RS256", header=forge.header("RS256", kid=forge.kids["EC"])),
    ),
    attack(
        "okp-kid-with-rs256",
        lambda forge: forge.signed("RS256", header=forge.header("RS256", kid=forge.kids["OKP"])),
    ),
    # Keys named by the token itself: never used, never fetched.
    attack(
        "embedded-jwk-with-its-kid",
        lambda forge: forge.by_attacker(forge.header(kid="attacker", jwk=forge.attacker_jwk)),
    ),
    attack(
        "embedded-jwk-without-kid",
        lambda forge: forge.by_attacker(forge.header(kid=OMIT, jwk=forge.attacker_jwk)),
    ),
    attack(
        "embedded-jwk-with-issuer-kid",
        lambda forge: forge.by_attacker(forge.header(jwk=forge.attacker_jwk)),
    ),
    attack(
        "jku-to-decoy",
        lambda forge: forge.by_attacker(
            forge.header(kid="attacker", jku=f"{forge.decoy_url}/jwks.json")
        ),
    ),
    attack(
        "jku-to-decoy-with-issuer-kid",
        lambda forge: forge.by_attacker(forge.header(jku=f"{forge.decoy_url}/jwks.json")),
    ),
    attack(
        "x5u-to-decoy",
        lambda forge: forge.by_attacker(
            forge.header(kid="attacker", x5u=f"{forge.decoy_url}/cert.pem")
        ),
    ),
    attack(
        "x5c-attacker-certificate",
        lambda forge: forge.by_attacker(forge.header(kid=OMIT, x5c=[forge.attacker_x5c])),
    ),
    # kid.
    *(
        attack(
            f"kid-{name}",
            lambda forge, kid=kid: forge.signed(header=forge.header(kid=kid)),
        )
        for name, kid in (
            ("path-traversal", "../../../../etc/passwd"),
            ("sql", "' OR 1=1 --"),
            ("10000-chars", "k" * 10_000),
            ("257-chars", "k" * 257),
            ("empty", ""),
            ("number", 1),
            ("null", None),
            ("list", ["kid"]),
            ("object", {"$ne": ""}),
            ("unknown", "not-a-published-kid"),
        )
    ),
    # Registered claims.
    attack("expired", lambda forge: forge.valid(iat=NOW - 7200, exp=NOW - 3600), EXPIRED),
    attack("nbf-in-the-future", lambda forge: forge.valid(nbf=int(time.time()) + 3600)),
    attack(
        "iat-far-in-the-future",
        lambda forge: forge.valid(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200),
    ),
    attack("exp-missing", lambda forge: forge.valid(exp=OMIT)),
    attack("iss-wrong", lambda forge: forge.valid(iss=f"http://{LOOPBACK}:9/other")),
    attack("iss-with-trailing-slash", lambda forge: forge.valid(iss=forge.issuer.url + "/")),
    attack("iss-missing", lambda forge: forge.valid(iss=OMIT)),
    attack("iss-list", lambda forge: forge.valid(iss=[forge.issuer.url])),
    attack("aud-wrong", lambda forge: forge.valid(aud="api://other")),
    attack("aud-missing", lambda forge: forge.valid(aud=OMIT)),
    attack("aud-list-without-ours", lambda forge: forge.valid(aud=["api://x", "api://y"])),
    attack("aud-number", lambda forge: forge.valid(aud=7)),
    attack("sub-missing", lambda forge: forge.valid(sub=OMIT)),
    attack("sub-empty", lambda forge: forge.valid(sub="")),
    attack("sub-number", lambda forge: forge.valid(sub=7)),
    *(
        attack(
            f"{claim}-{kind}",
            lambda forge, claim=claim, raw=raw: forge.bad_time(claim, raw),
            INVALID,
        )
        for claim in ("exp", "nbf", "iat")
        for kind, raw in BAD_TIME_VALUES.items()
    ),
    # Header parameters the service does not implement.
    attack(
        "crit-unknown-extension",
        lambda forge: forge.signed(header=forge.header(crit=["x-unknown"], **{"x-unknown": 1})),
    ),
    attack(
        "b64-false",
        lambda forge: forge.signed(header=forge.header(b64=False)),
    ),
    attack(
        "b64-false-critical",
        lambda forge: forge.signed(header=forge.header(b64=False, crit=["b64"])),
    ),
    # Shape.
    attack("one-segment", lambda forge: forge.valid().split(".")[0]),
    attack("two-segments", lambda forge: forge.valid().rpartition(".")[0]),
    attack("four-segments", lambda forge: forge.valid() + ".AAAA"),
    attack("five-segments", lambda forge: forge.valid() + ".AAAA.AAAA"),
    attack("empty-segments", lambda forge: ".."),
    attack("character-outside-alphabet", lambda forge: forge.valid() + "!"),
    attack("standard-base64-characters", lambda forge: forge.valid()[:-2] + "+/"),
    attack("padding-on-signature", lambda forge: forge.valid() + "="),
    attack("double-padding-on-signature", lambda forge: forge.valid() + "=="),
    attack(
        "padding-on-header",
        lambda forge: forge.valid().replace(".", "=.", 1),
    ),
    attack("header-not-json", lambda forge: compact(b"not json", forge.payload(), b"sig")),
    attack("header-json-array", lambda forge: compact(b'["RS256"]', forge.payload(), b"sig")),
    attack("header-not-utf8", lambda forge: compact(b"\xff\xfe", forge.payload(), b"sig")),
    attack("header-deeply-nested", lambda forge: compact(nested(2500), b"{}", b"sig")),
    attack("payload-not-json", lambda forge: forge.signed(payload=b"not json")),
    attack("payload-json-array", lambda forge: forge.signed(payload=b'["adversary"]')),
    attack("payload-not-utf8", lambda forge: forge.signed(payload=b"\xff\xfe")),
    attack("payload-deeply-nested", lambda forge: forge.signed(payload=nested(2500))),
    attack("token-over-max-bytes", lambda forge: forge.valid(pad="p" * 9000)),
]


class TestAttacks:
    """Every hostile request gets its exact 401 and challenge: never a 200, never a 5xx."""

    @pytest.mark.parametrize("algorithm", ISSUER_ALGORITHMS)
    def test_genuine_token_is_accepted(self, target: Backed, algorithm: str) -> None:
        """Control: a genuine token of each algorithm the issuer signs with is accepted."""
        token = target.forge.valid(algorithm, sub=f"control-{algorithm}")
        response = target.service.expect("/protected", 200, token)
        assert response.json()["user"] == {
            "subject": f"control-{algorithm}",
            "issuer": target.issuer.url,
            "scopes": [],
            "roles": [],
        }

    @pytest.mark.parametrize("case", ATTACKS, ids=lambda case: case.name)
    def test_attack_is_refused(self, target: Backed, decoy: DecoyServer, case: Attack) -> None:
        """The hostile request gets its exact status, challenge and fixed body."""
        headers = httpx.Headers(case.build(target.forge))
        response = target.service.client.get("/protected", headers=headers)
        answer = (response.status_code, response.headers.get("WWW-Authenticate"))
        assert answer == (case.status, case.challenge), (
            f"{answer}: {response.text}\n{target.service.process.report()}"
        )
        # Litestar's error shape with a fixed description: nothing of the request is echoed.
        assert response.json() == {"status_code": case.status, "detail": DETAILS[case.challenge]}
        assert decoy.connections == 0

    def test_token_headers_are_never_followed(self, target: Backed, decoy: DecoyServer) -> None:
        """jku/x5u/x5c tokens, then time for background work: the decoy is never contacted."""
        for name in ("jku-to-decoy", "x5u-to-decoy", "x5c-attacker-certificate"):
            (case,) = (attack for attack in ATTACKS if attack.name == name)
            headers = httpx.Headers(case.build(target.forge))
            assert target.service.client.get("/protected", headers=headers).status_code == 401
        time.sleep(0.5)
        assert decoy.connections == 0
        target.service.expect("/protected", 200, target.forge.valid())

    def test_iat_within_the_leeway_is_accepted(self, target: Backed) -> None:
        """Policy: `iat` up to AUTH_LEEWAY (30 s) ahead of the service's clock is tolerated."""
        now = int(time.time())
        target.service.expect("/protected", 200, target.forge.valid(iat=now + 10))

    def test_missing_scope_is_403(self, target: Backed) -> None:
        """A genuine token without the route's scope gets 403 insufficient_scope, with it 200."""
        response = target.service.expect("/admin", 403, target.forge.valid())
        assert response.headers["WWW-Authenticate"] == (
            f'{CHALLENGE}, error="insufficient_scope", '
            'error_description="The access token lacks a required scope.", scope="admin"'
        )
        target.service.expect("/admin", 200, target.forge.valid(scope="read admin"))

    def test_multi_megabyte_authorization_header_is_431_from_the_server(
        self, target: Backed
    ) -> None:
        """A 3 MiB Authorization header is refused by the HTTP server itself: 431, never a 5xx.

        `serve` runs httptools by default, whose parser has no limit of its own; the
        generated `server.py` counts the bytes of an incomplete request head and answers
        `431 Request Header Fields Too Large` (plain-text body) and closes the connection once
        they pass 16 KiB, before the application (and so AUTH_MAX_TOKEN_BYTES) sees anything:
        no `WWW-Authenticate`. (On `--http h11`, h11's own 16 KiB limit answers 400:
        tests/test_http_stack.py runs both.)
        """
        head = (
            b"GET /protected HTTP/1.1\r\nHost: " + LOOPBACK.encode() + b"\r\n"
            b"Authorization: Bearer " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n"
        )
        answer = raw_request(target.service.port, head, REQUEST_TIMEOUT)
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:500]
        assert rest.endswith(b"\r\n\r\nRequest header fields too large."), answer[:500]
        assert b"www-authenticate" not in rest.lower()
        target.service.expect("/health", 200)
        target.service.expect("/protected", 200, target.forge.valid())

    def test_token_below_the_server_limit_gets_the_apps_401(self, target: Backed) -> None:
        """A 12 KiB token (over AUTH_MAX_TOKEN_BYTES, under uvicorn's limit) gets the app's 401."""
        response = target.service.get("/protected", "a" * 12 * 1024)
        assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, INVALID)


# --- issuer faults -----------------------------------------------------------------------------


@pytest.fixture(scope="class")
def faulty(installed_default: Installed, logs: Path) -> Iterator[Backed]:
    """A service whose keys go stale after 1 s, trusting an issuer that misbehaves on request."""
    with running_issuer(logs / "faulty-issuer.log") as issuer:
        forge = Forge(issuer)
        with serving(
            installed_default,
            logs / "faulty.log",
            AUTH_ISSUER=issuer.url,
            AUTH_AUDIENCE=AUDIENCE,
            AUTH_HTTP_TIMEOUT=str(HTTP_TIMEOUT),
            AUTH_REFRESH_COOLDOWN=str(COOLDOWN),
            AUTH_JWKS_CACHE_TTL=str(COOLDOWN),
        ) as service:
            service.wait_for("/ready", 200, START_TIMEOUT)
            yield Backed(service, issuer, forge)


GARBAGE: Final = [
    pytest.param(mode, "jwks", id=f"jwks-{mode}")
    for mode in (
        "html",
        "invalid_json",
        "no_keys",
        "missing_members",
        "huge",
        "redirect_loop",
        "slow",
        "down",
    )
] + [
    pytest.param(mode, "discovery", id=f"discovery-{mode}")
    for mode in ("html", "invalid_json", "redirect_loop", "down")
]


HOSTILE: Final = [
    pytest.param(mode, "jwks", id=f"jwks-{mode}")
    for mode in (
        "gzip_bomb",
        "stacked_gzip_bomb",
        "deflate_bomb",
        "brotli",
        "nested",
        "big_ints",
        "too_many_keys",
    )
] + [pytest.param("bad_jwks_uri", "discovery", id="discovery-bad_jwks_uri")]
MAX_FETCH_RSS_GROWTH: Final = 16 * 1024 * 1024  # a bomb decoded whole raises the peak 128 MiB
IDENTITY_KID: Final = "identity-point"  # issuer_server.IDENTITY_KID


def fetch_failures(service: Service) -> float:
    """The service's `jwks_fetch_failures_total` of its one issuer, read from /metrics."""
    for line in service.expect("/metrics", 200).text.splitlines():
        if line.startswith("jwks_fetch_failures_total{issuer="):
            return float(line.split()[-1])
    raise AssertionError("no jwks_fetch_failures_total in /metrics")


def run_doctor(project: Installed, issuer: Issuer, **env: str) -> subprocess.CompletedProcess[str]:
    """The project's `doctor` console script against `issuer`, to its end."""
    command = [str(project.path / ".venv" / "bin" / SLUG), "doctor"]
    full_env = service_env(project.env, AUTH_ISSUER=issuer.url, AUTH_AUDIENCE=AUDIENCE, **env)
    return run_command(command, project.path, full_env)


class TestIssuerFaults:
    """An issuer that answers garbage never crashes the service nor replaces its good keys."""

    @pytest.mark.parametrize(("mode", "document"), GARBAGE)
    def test_garbage_never_replaces_good_keys(
        self, faulty: Backed, mode: str, document: str
    ) -> None:
        """With keys loaded, a refresh that meets `mode` changes nothing: genuine tokens get 200."""
        service, issuer, forge = faulty.service, faulty.issuer, faulty.forge
        service.expect("/protected", 200, forge.valid())
        issuer.fault(mode, seconds=5 * HTTP_TIMEOUT, target=document)
        try:
            time.sleep(COOLDOWN + 0.3)  # the keys are past their TTL, and a refresh is due
            path = JWKS_PATH if document == "jwks" else DISCOVERY_PATH
            before = issuer.stats()["requests"]
            began = time.monotonic()
            unknown = forge.signed(header=forge.header(kid="forces-a-refresh"))
            response = service.expect("/protected", 401, unknown)
            assert response.headers["WWW-Authenticate"] == INVALID
            assert time.monotonic() - began < HTTP_TIMEOUT + TIMEOUT_SLACK
            after = issuer.stats()["requests"]
            assert after.get(path, 0) - before.get(path, 0) == 1, (before, after)
            if document == "discovery":  # discovery failed: the JWKS was never asked for
                assert after.get(JWKS_PATH, 0) == before.get(JWKS_PATH, 0), (before, after)
            for algorithm in ("RS256", "PS256", "ES256", "EdDSA"):
                service.expect("/protected", 200, forge.valid(algorithm))
            service.expect("/ready", 200)
            if mode == "huge":  # the service stopped reading at its cap, long before 16 MiB
                wait_until(
                    lambda: issuer.stats()["abandoned"].get(JWKS_PATH, 0) >= 1,
                    STOP_TIMEOUT,
                    "the issuer saw the huge JWKS abandoned",
                    service,
                )
        finally:
            issuer.fault("ok")
        assert service.process.popen.poll() is None, service.process.report()

    @pytest.mark.parametrize(("mode", "document"), HOSTILE)
    def test_hostile_answer_is_a_counted_failed_fetch(
        self, faulty: Backed, mode: str, document: str
    ) -> None:
        """Each hostile answer is one failed fetch: logged, counted, 401 in time, keys kept.

        Compression bombs, foreign codings, deep nesting, huge integers, too many keys and a
        `jwks_uri` on port 99999 alike; the service's peak memory stays where it was.
        """
        service, issuer, forge = faulty.service, faulty.issuer, faulty.forge
        service.expect("/protected", 200, forge.valid())
        issuer.fault(mode, target=document)
        try:
            time.sleep(COOLDOWN + 0.3)
            pid = service.process.popen.pid
            failures, peak = fetch_failures(service), rss_bytes(pid, "VmHWM")
            path = JWKS_PATH if document == "jwks" else DISCOVERY_PATH
            before = issuer.stats()["requests"]
            began = time.monotonic()
            unknown = forge.signed(header=forge.header(kid="forces-a-refresh"))
            response = service.expect("/protected", 401, unknown)
            assert response.headers["WWW-Authenticate"] == INVALID
            assert time.monotonic() - began < HTTP_TIMEOUT + TIMEOUT_SLACK
            after = issuer.stats()["requests"]
            assert after.get(path, 0) - before.get(path, 0) == 1, (before, after)
            assert fetch_failures(service) == failures + 1
            growth = rss_bytes(pid, "VmHWM") - peak
            assert growth < MAX_FETCH_RSS_GROWTH, f"peak RSS +{growth} bytes"
            for algorithm in ("RS256", "PS256", "ES256", "EdDSA"):
                service.expect("/protected", 200, forge.valid(algorithm))
            service.expect("/ready", 200)
        finally:
            issuer.fault("ok")
        assert "JWKS fetch failed: " in service.process.log.read_text()
        assert "Traceback" not in service.process.log.read_text()
        assert service.process.popen.poll() is None, service.process.report()

    def test_gzip_encoded_jwks_is_read(self, faulty: Backed) -> None:
        """A JWKS sent gzip-encoded (as from a CDN) is a successful fetch."""
        service, issuer, forge = faulty.service, faulty.issuer, faulty.forge
        issuer.fault("gzip")
        try:
            time.sleep(COOLDOWN + 0.3)
            failures, fetches = fetch_failures(service), issuer.jwks_requests()
            service.expect("/protected", 401, forge.signed(header=forge.header(kid="unknown")))
            assert (issuer.jwks_requests(), fetch_failures(service)) == (fetches + 1, failures)
            service.expect("/protected", 200, forge.valid("EdDSA"))
        finally:
            issuer.fault("ok")

    def test_identity_point_key_never_verifies(self, faulty: Backed) -> None:
        """The identity point published as an Ed25519 key is skipped: `01 00..00` gets 401."""
        service, issuer, forge = faulty.service, faulty.issuer, faulty.forge
        issuer.fault("identity_key")
        try:
            time.sleep(COOLDOWN + 0.3)
            failures = fetch_failures(service)
            header = forge.header("EdDSA", kid=IDENTITY_KID)
            forged = compact(header, forge.payload(), b"\x01" + bytes(63))
            response = service.expect("/protected", 401, forged)
            assert response.headers["WWW-Authenticate"] == INVALID
            assert fetch_failures(service) == failures  # the set loaded; that one key did not
            service.expect("/protected", 200, forge.valid("EdDSA"))
        finally:
            issuer.fault("ok")
        assert "prime-order subgroup" in service.process.log.read_text()

    @pytest.mark.parametrize(
        ("mode", "document"), [*HOSTILE, ("slow", "jwks"), ("down", "all"), ("html", "discovery")]
    )
    def test_doctor_reports_without_a_traceback(
        self, installed_default: Installed, faulty: Backed, mode: str, document: str
    ) -> None:
        """`doctor` against a hostile issuer exits 1 with a FAIL line: no traceback, in time."""
        issuer = faulty.issuer
        issuer.fault(mode, seconds=5 * HTTP_TIMEOUT, target=document)
        try:
            began = time.monotonic()
            result = run_doctor(installed_default, issuer, AUTH_HTTP_TIMEOUT=str(HTTP_TIMEOUT))
            elapsed = time.monotonic() - began
        finally:
            issuer.fault("ok")
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "  FAIL  " in result.stdout, output
        assert "Traceback" not in output, output
        assert elapsed < HTTP_TIMEOUT + START_TIMEOUT, elapsed

    @pytest.mark.parametrize("mode", ["gzip", "identity_key"])
    def test_doctor_passes_a_usable_jwks(
        self, installed_default: Installed, faulty: Backed, mode: str
    ) -> None:
        """A gzip-encoded JWKS, or a degenerate key beside good ones, passes (with a warning)."""
        faulty.issuer.fault(mode)
        try:
            result = run_doctor(installed_default, faulty.issuer)
        finally:
            faulty.issuer.fault("ok")
        assert result.returncode == 0, result.stdout + result.stderr
        if mode == "identity_key":
            assert re.search(
                rf"warn  key kid='{IDENTITY_KID}' .*prime-order subgroup$", result.stdout, re.M
            ), result.stdout

    @pytest.mark.parametrize(
        ("mode", "document"),
        [
            ("nested", "jwks"),
            ("big_ints", "jwks"),
            ("gzip_bomb", "jwks"),
            ("bad_jwks_uri", "discovery"),
        ],
    )
    def test_cold_start_against_a_hostile_issuer_recovers(
        self, installed_default: Installed, tmp_path: Path, mode: str, document: str
    ) -> None:
        """Started against a garbage answer: 503, retried without traffic, ready once healed."""
        with running_issuer(tmp_path / "issuer.log") as issuer:
            issuer.fault(mode, target=document)
            forge = Forge(issuer)
            with serving(
                installed_default,
                tmp_path / "serve.log",
                AUTH_ISSUER=issuer.url,
                AUTH_AUDIENCE=AUDIENCE,
                AUTH_REFRESH_COOLDOWN=str(COOLDOWN),
            ) as service:
                response = service.expect("/protected", 503, forge.valid())
                assert response.headers["WWW-Authenticate"] == CHALLENGE
                wait_until(
                    lambda: fetch_failures(service) >= 3,
                    RECOVERY_TIMEOUT,
                    "retries without any request",
                    service,
                )
                service.expect("/ready", 503)
                issuer.fault("ok", target=document)
                service.wait_for("/ready", 200, RECOVERY_TIMEOUT)
                service.expect("/protected", 200, forge.valid())
                log = service.process.log.read_text()
        assert "JWKS fetch failed: " in log
        assert "Traceback" not in log


@dataclass(frozen=True)
class ColdBurst:
    """Twenty concurrent requests sent to a service that never got keys from its slow issuer."""

    backed: Backed
    outcomes: list[Outcome]
    fetches: int
    """JWKS requests the issuer received while the burst was answered."""


@pytest.fixture(scope="class")
def cold(installed_default: Installed, logs: Path) -> Iterator[ColdBurst]:
    """The burst, fired just after the first fetch gave up (so the next one is due at once)."""
    with running_issuer(logs / "slow-issuer.log") as issuer:
        issuer.fault("slow", seconds=60)
        forge = Forge(issuer)
        token = forge.valid("EdDSA")
        with serving(
            installed_default,
            logs / "slow.log",
            AUTH_ISSUER=issuer.url,
            AUTH_AUDIENCE=AUDIENCE,
            AUTH_HTTP_TIMEOUT=str(HTTP_TIMEOUT),
            AUTH_REFRESH_COOLDOWN=str(COOLDOWN),
        ) as service:
            wait_until(
                lambda: issuer.stats()["abandoned"].get(JWKS_PATH, 0) >= 1,
                START_TIMEOUT,
                "the service gave up its first JWKS fetch",
                service,
            )
            before = issuer.jwks_requests()
            outcomes = get_each(service, [token] * 20, concurrency=20)
            fetches = issuer.jwks_requests() - before
            yield ColdBurst(Backed(service, issuer, forge), outcomes, fetches)


class TestSlowIssuer:
    """An issuer slower than AUTH_HTTP_TIMEOUT: bounded waits, one shared fetch, recovery."""

    def test_cold_requests_are_503_with_retry_after(self, cold: ColdBurst) -> None:
        """Without keys, a genuine token gets 503, a bare challenge and Retry-After."""
        for outcome in cold.outcomes:
            assert (outcome.status, outcome.challenge) == (503, CHALLENGE), outcome
            assert outcome.retry_after is not None
            assert int(outcome.retry_after) >= 1

    def test_no_request_waits_beyond_the_timeout(self, cold: ColdBurst) -> None:
        """Every cold request is answered within AUTH_HTTP_TIMEOUT (+ slack for CI)."""
        slowest = max(outcome.seconds for outcome in cold.outcomes)
        assert slowest < HTTP_TIMEOUT + TIMEOUT_SLACK, slowest

    def test_concurrent_cold_requests_share_one_fetch(self, cold: ColdBurst) -> None:
        """Twenty concurrent cold requests cause exactly one JWKS fetch."""
        assert cold.fetches == 1, cold.backed.issuer.stats()

    def test_recovers_when_the_issuer_answers_again(self, cold: ColdBurst) -> None:
        """Once the issuer answers in time, the service gets ready by itself and accepts tokens."""
        backed = cold.backed
        backed.issuer.fault("ok")
        backed.service.wait_for("/ready", 200, RECOVERY_TIMEOUT)
        backed.service.expect("/protected", 200, backed.forge.valid("EdDSA"))


@pytest.fixture(scope="class")
def single(installed_default: Installed, logs: Path) -> Iterator[Backed]:
    """A service trusting an issuer that publishes one RSA key, tagged `alg: RS256`."""
    with running_issuer(logs / "single-issuer.log", algorithms="RS256") as issuer:
        forge = Forge(issuer)
        with serving(
            installed_default,
            logs / "single.log",
            AUTH_ISSUER=issuer.url,
            AUTH_AUDIENCE=AUDIENCE,
            AUTH_REFRESH_COOLDOWN=str(COOLDOWN),
            AUTH_JWKS_CACHE_TTL=str(COOLDOWN),
        ) as service:
            service.wait_for("/ready", 200, START_TIMEOUT)
            yield Backed(service, issuer, forge)


class TestRotation:
    """Rotation of a single published key (RS256, with an `alg` member), with and without kid."""

    @pytest.mark.parametrize("with_kid", [True, False], ids=["with-kid", "without-kid"])
    def test_rotated_key_is_accepted_and_removed_key_refused(
        self, single: Backed, with_kid: bool
    ) -> None:
        """After a rotation the new key verifies without a restart; the removed key's tokens fail.

        Without kid, a token uses the only published key: the old one, then the new one.
        """
        service, forge = single.service, single.forge

        def mint() -> str:
            return forge.valid() if with_kid else forge.signed(header=forge.header(kid=OMIT))

        forge.refresh()
        seen, unseen = mint(), mint()
        service.expect("/protected", 200, seen)
        single.issuer.rotate("rsa")
        forge.refresh()
        fresh = mint()
        wait_until(
            lambda: service.get("/protected", fresh).status_code == 200,
            RECOVERY_TIMEOUT,
            f"the rotated key accepted ({'with' if with_kid else 'without'} kid)",
            service,
        )
        for old in (seen, unseen):
            assert service.expect("/protected", 401, old).headers["WWW-Authenticate"] == INVALID

    def test_key_alg_member_is_enforced(self, single: Backed) -> None:
        """A PS256 signature by the key published as `alg: RS256` is refused."""
        forge = single.forge
        forge.refresh()
        single.service.expect("/protected", 200, forge.valid("RS256"))
        response = single.service.expect("/protected", 401, forge.valid("PS256"))
        assert response.headers["WWW-Authenticate"] == INVALID


class TestRefreshAtCooldownEnd:
    """A new kid within the refresh cooldown is refused, and looked up when the cooldown ends."""

    COOLDOWN: Final = 2.0

    def test_new_key_is_fetched_without_waiting_for_another_token(
        self, installed_default: Installed, tmp_path: Path
    ) -> None:
        """After one 401, the JWKS is fetched at the cooldown's end, and the next token passes."""
        with running_issuer(tmp_path / "issuer.log", algorithms="RS256") as issuer:
            forge = Forge(issuer)
            with serving(
                installed_default,
                tmp_path / "serve.log",
                AUTH_ISSUER=issuer.url,
                AUTH_AUDIENCE=AUDIENCE,
                AUTH_REFRESH_COOLDOWN=str(self.COOLDOWN),
                AUTH_JWKS_CACHE_TTL="300",
            ) as service:
                service.wait_for("/ready", 200, START_TIMEOUT)
                time.sleep(max(0.0, service.ready_at + self.COOLDOWN + 0.2 - time.monotonic()))
                # A random kid refreshes at once: the cooldown starts now.
                service.expect("/protected", 401, forge.signed(header=forge.header(kid="random")))
                began, fetches = time.monotonic(), issuer.jwks_requests()
                issuer.rotate("rsa")
                forge.refresh()
                fresh = forge.valid()
                service.expect("/protected", 401, fresh)  # within the cooldown
                assert time.monotonic() - began < self.COOLDOWN, "too slow to test the cooldown"
                wait_until(
                    lambda: issuer.jwks_requests() == fetches + 1,
                    self.COOLDOWN + TIMEOUT_SLACK,
                    "the refresh scheduled for the end of the cooldown",
                    service,
                )
                assert time.monotonic() - began >= self.COOLDOWN - 0.1
                service.expect("/protected", 200, fresh)
                time.sleep(self.COOLDOWN + 0.3)
                assert issuer.jwks_requests() == fetches + 1  # nothing more was scheduled


class TestKidFlood:
    """Tokens with random kids cannot make the service hammer its issuer."""

    FLOOD: Final = 200
    FLOOD_COOLDOWN: Final = 1.0

    def test_random_kids_fetch_at_most_once_per_cooldown(
        self, installed_default: Installed, tmp_path: Path
    ) -> None:
        """200 random kids: every one 401, JWKS fetches <= 1 + one per AUTH_REFRESH_COOLDOWN."""
        with running_issuer(tmp_path / "issuer.log") as issuer:
            forge = Forge(issuer)
            tokens = [
                forge.by_attacker(forge.header(kid=f"random-{secrets.token_hex(8)}"))
                for _ in range(self.FLOOD)
            ]
            launched = time.monotonic()
            with serving(
                installed_default,
                tmp_path / "serve.log",
                AUTH_ISSUER=issuer.url,
                AUTH_AUDIENCE=AUDIENCE,
                AUTH_REFRESH_COOLDOWN=str(self.FLOOD_COOLDOWN),
            ) as service:
                service.wait_for("/ready", 200, START_TIMEOUT)
                # Past the cooldown of the start-up fetch: the first unknown kid may refresh.
                time.sleep(
                    max(0.0, service.ready_at + self.FLOOD_COOLDOWN + 0.2 - time.monotonic())
                )
                before, flood_began = issuer.jwks_requests(), time.monotonic()
                outcomes = get_each(service, tokens, concurrency=16)
                ended = time.monotonic()
                total = issuer.jwks_requests()
                service.expect("/protected", 200, forge.valid())
        assert Counter((o.status, o.challenge) for o in outcomes) == {(401, INVALID): self.FLOOD}
        # Fetch starts are at least a cooldown apart; the first is the start-up one, after
        # `launched`. An unknown kid, once the cooldown is over, does refresh: at least 2.
        assert 2 <= total <= 1 + math.floor((ended - launched) / self.FLOOD_COOLDOWN), total
        flood_fetches = total - before
        assert 1 <= flood_fetches <= 1 + math.floor((ended - flood_began) / self.FLOOD_COOLDOWN)


# --- soak --------------------------------------------------------------------------------------

SOAK_WORKERS: Final = 16
SOAK_BAD_WORKERS: Final = 4
WARM_UP_SECONDS: Final = 2.0
SOAK_SECONDS: Final = 8.0
MAX_RSS_GROWTH: Final = 20 * 1024 * 1024


@dataclass
class Tally:
    """What the soak's requests got, by kind."""

    statuses: Counter[tuple[str, int]]
    errors: Counter[str]


async def _soak(
    port: int, valid: Sequence[str], bad: Sequence[str], seconds: float, tally: Tally
) -> None:
    valid_tokens, bad_tokens = cycle(valid), cycle(bad)
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=SOAK_WORKERS + SOAK_BAD_WORKERS)
    async with httpx.AsyncClient(
        base_url=f"http://{LOOPBACK}:{port}",
        timeout=REQUEST_TIMEOUT,
        limits=limits,
        trust_env=False,
    ) as client:

        async def worker(kind: str, tokens: Iterator[str]) -> None:
            while time.monotonic() < deadline:
                try:
                    response = await client.get(
                        "/protected", headers={"Authorization": f"Bearer {next(tokens)}"}
                    )
                except httpx.HTTPError as exc:
                    tally.errors[type(exc).__name__] += 1
                else:
                    tally.statuses[kind, response.status_code] += 1

        await asyncio.gather(
            *(worker("valid", valid_tokens) for _ in range(SOAK_WORKERS)),
            *(worker("bad", bad_tokens) for _ in range(SOAK_BAD_WORKERS)),
        )


class TestSoak:
    """Sustained valid and hostile traffic: no 5xx, no valid request refused, memory flat."""

    def test_soak(self, target: Backed) -> None:
        """16 workers of genuine tokens and 4 of bad ones for ~10 s: no 5xx, RSS flat."""
        forge, service = target.forge, target.service
        valid = [forge.valid(ISSUER_ALGORITHMS[n % 8], sub=f"soak-{n}") for n in range(64)]
        bad = [
            *(tamper(token) for token in valid[:16]),
            *(forge.by_attacker(forge.header(kid=f"soak-{n}")) for n in range(16)),
            *(forge.valid(iat=NOW - 7200, exp=NOW - 3600) for _ in range(8)),
            compact(forge.header("none"), forge.payload()),
            "x.y.z",
            "not-a-jwt",
        ]
        pid = service.process.popen.pid
        assert "serve" in Path(f"/proc/{pid}/cmdline").read_text(), "not the service's own pid"
        warm_up, soak = Tally(Counter(), Counter()), Tally(Counter(), Counter())
        asyncio.run(_soak(service.port, valid, bad, WARM_UP_SECONDS, warm_up))
        rss_before = rss_bytes(pid)
        asyncio.run(_soak(service.port, valid, bad, SOAK_SECONDS, soak))
        rss_after = rss_bytes(pid)
        for tally in (warm_up, soak):
            assert not tally.errors, tally
            assert set(tally.statuses) == {("valid", 200), ("bad", 401)}, tally
        assert soak.statuses["valid", 200] > 500, soak  # the load was real
        growth = rss_after - rss_before
        assert growth < MAX_RSS_GROWTH, f"RSS {rss_before} -> {rss_after} (+{growth} bytes)"
        assert service.process.popen.poll() is None, service.process.report()
