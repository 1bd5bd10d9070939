"""A small OpenID issuer for the end-to-end tests: discovery, JWKS and a control API on loopback.

Run it as its own process (`python tests/issuer_server.py --port 0`); it prints the port it
listens on as its first line of standard output, and nothing else there. It holds one signing key
per family (RSA-2048, EC P-256, Ed25519), generated at start or kept in `--keys DIR` so that a
restarted issuer signs and publishes the same keys.

Routes, under the issuer URL `http://127.0.0.1:<port><--issuer-path>`:

- `GET <issuer>/.well-known/openid-configuration` and `GET <issuer>/.well-known/jwks.json`;
- `POST /_control/sign` with `{"alg": "RS256", "claims": {...}, "kid": "..."}`: a compact JWS
  signed by the current key of that family (`iss`, `sub`, `iat` and `exp` filled in when absent;
  `kid` overrides the header's key id, to forge an unknown one);
- `POST /_control/rotate` with an optional `{"families": ["rsa"]}`: each named family (default:
  all) gets a new key with a new kid, and the old key disappears from the JWKS;
- `POST /_control/sign` also takes `"header"` (the exact protected header, nothing filled in) and
  `"payload_b64"` (the exact payload bytes, base64url): `alg` then only picks the signing key and
  algorithm, so hostile tokens (a header `alg` that differs, `kid: null`, `exp: 1e400`, a
  payload that is not JSON or not UTF-8) carry a genuine signature of the issuer's key;
- `POST /_control/fault` with `{"mode": ..., "seconds": ..., "target": ...}`: from now on the
  documents of `target` (`"jwks"`, the default, `"discovery"` or `"all"`) misbehave as `mode`
  says (see `FAULT_MODES`; `"ok"` ends the fault);
- `GET /_control/jwks`: the JWKS, whatever the fault, and not counted;
- `GET /_control/stats`: `{"requests": {path: n}, "abandoned": {path: n}}`, the GET requests
  received for each path outside `/_control/`, and how many of them the client gave up on
  before a slow or huge answer was complete.

Only the standard library's `http.server` and `cryptography`: the tests must not depend on the
code under test to make their tokens.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import gzip
import hashlib
import json
import select
import socket
import sys
import threading
import time
import zlib
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

HOST: Final = "127.0.0.1"
FAMILIES: Final = ("rsa", "ec", "okp")
FAMILY_OF: Final = {
    "RS256": "rsa",
    "RS384": "rsa",
    "RS512": "rsa",
    "PS256": "rsa",
    "PS384": "rsa",
    "PS512": "rsa",
    "ES256": "ec",
    "EdDSA": "okp",
}
HASHES: Final = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
MAX_BODY_BYTES: Final = 64 * 1024
DEFAULT_LIFETIME: Final = 600
CONTROL_PREFIX: Final = "/_control/"
FAULT_MODES: Final = {
    "ok": "answer normally",
    "html": "200 with an HTML page",
    "invalid_json": "200, application/json, with a truncated JSON text",
    "no_keys": "200 with a JSON object that has no `keys` member",
    "missing_members": "200 with the current kids, their key material (n, e, x, y) removed",
    "huge": "200 with the current keys under other kids, padded to HUGE_BODY_BYTES",
    "redirect_loop": "302 to the very same URL",
    "slow": "wait `seconds` (or until the client goes away), then answer normally",
    "down": "close the connection without answering",
    "gzip": "200 with the document gzip-encoded, as a CDN may send it (not a fault)",
    "gzip_bomb": "200, `Content-Encoding: gzip`, BOMB_BYTES of whitespace in ~1/1000 the size",
    "stacked_gzip_bomb": "200, `Content-Encoding: gzip, gzip`: the bomb gzipped again (~1 KB)",
    "deflate_bomb": "200, `Content-Encoding: deflate`, the bomb in the zlib format",
    "brotli": "200, `Content-Encoding: br` (a coding the service does not ask for)",
    "nested": "200 with `keys` nested NESTED_DEPTH brackets deep",
    "big_ints": "200 with the current kids, their key members replaced by integers >= 2**63",
    "too_many_keys": "200 with the current keys repeated under TOO_MANY_KEYS distinct kids",
    "identity_key": "200 with the current keys plus the Ed25519 identity point (kid IDENTITY_KID)",
    "bad_jwks_uri": "the discovery document names a `jwks_uri` on port 99999",
}
BOMB_BYTES: Final = 128 * 1024 * 1024
NESTED_DEPTH: Final = 50_000
TOO_MANY_KEYS: Final = 150  # over the service's 100, well under its 256 KiB
IDENTITY_KID: Final = "identity-point"
BAD_JWKS_URI_PORT: Final = 99999
FAULT_TARGETS: Final = ("jwks", "discovery", "all")
HUGE_BODY_BYTES: Final = 16 * 1024 * 1024
CHUNK_BYTES: Final = 64 * 1024
DISCONNECT_POLL_SECONDS: Final = 0.01
MAX_FAULT_SECONDS: Final = 600


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int, length: int | None = None) -> str:
    size = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


def generate(family: str) -> PrivateKey:
    """A new private key of `family`."""
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if family == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def kid_of(key: PrivateKey) -> str:
    """A key id derived from the public key: a new key always gets a new kid."""
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(public).hexdigest()[:16]


def public_jwk(key: PrivateKey) -> dict[str, str]:
    """The public members of `key` as a JWK (no `kid`, `use` or `alg`)."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _uint(point.x, 32), "y": _uint(point.y, 32)}
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def signature(key: PrivateKey, algorithm: str, message: bytes) -> bytes:
    """The JWS signature of `message` (RFC 7518 section 3, RFC 8037)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    digest = HASHES[algorithm[2:]]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(digest)))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if algorithm.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.sign(message, pss, digest)
    return key.sign(message, padding.PKCS1v15(), digest)


class Issuer:
    """The keys and documents of one issuer; safe to use from the server's threads."""

    def __init__(
        self, url: str, algorithms: list[str], keys_dir: Path | None, tag_alg: bool
    ) -> None:
        """Load the keys from `keys_dir` (or generate them) for the issuer at `url`."""
        self.url = url
        self.algorithms = algorithms
        self._keys_dir = keys_dir
        self._tag_alg = tag_alg
        self._lock = threading.Lock()
        self._keys = {family: self._load_or_generate(family) for family in FAMILIES}

    def _load_or_generate(self, family: str) -> PrivateKey:
        path = self._path(family)
        if path is not None and path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, PrivateKey):
                raise SystemExit(f"{path} holds no {family} private key")
            return key
        key = generate(family)
        self._save(family, key)
        return key

    def _path(self, family: str) -> Path | None:
        return None if self._keys_dir is None else self._keys_dir / f"{family}.pem"

    def _save(self, family: str, key: PrivateKey) -> None:
        path = self._path(family)
        if path is None:
            return
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        partial = path.with_suffix(".tmp")
        partial.write_bytes(pem)
        partial.replace(path)  # atomic: a restarted issuer never reads half a key

    @property
    def base(self) -> str:
        """Where the documents live: the issuer URL without its trailing slash."""
        return self.url.rstrip("/")

    def discovery(self) -> dict[str, Any]:
        """The OpenID discovery document."""
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.base}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": self.algorithms,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys of the families that `algorithms` uses."""
        keys = []
        with self._lock:
            current = dict(self._keys)
        for family, key in current.items():
            algorithms = [name for name in self.algorithms if FAMILY_OF[name] == family]
            if not algorithms:
                continue
            jwk = {**public_jwk(key), "kid": kid_of(key), "use": "sig"}
            if self._tag_alg and len(algorithms) == 1:
                jwk["alg"] = algorithms[0]
            keys.append(jwk)
        return {"keys": keys}

    def rotate(self, families: list[str]) -> dict[str, str]:
        """Replace the key of each family; return the new kids."""
        fresh = {family: generate(family) for family in families}
        with self._lock:
            for family, key in fresh.items():
                self._save(family, key)
                self._keys[family] = key
        return {family: kid_of(key) for family, key in fresh.items()}

    def sign(
        self,
        algorithm: str,
        claims: dict[str, Any],
        kid: str | None,
        *,
        header: dict[str, Any] | None = None,
        payload: bytes | None = None,
    ) -> dict[str, Any]:
        """A compact JWS of `claims`, with defaults for the registered claims.

        `header` and `payload`, when given, are used exactly as they are (`kid` and `claims` are
        then ignored): `algorithm` only chooses the key and the signature algorithm.
        """
        with self._lock:
            key = self._keys[FAMILY_OF[algorithm]]
        now = int(time.time())
        if payload is None:
            document = {
                "iss": self.url,
                "sub": "e2e-user",
                "iat": now,
                "exp": now + DEFAULT_LIFETIME,
                **claims,
            }
            payload = json.dumps(document, separators=(",", ":")).encode()
        if header is None:
            header = {"alg": algorithm, "typ": "JWT", "kid": kid or kid_of(key)}
        encoded_header = b64url(json.dumps(header, separators=(",", ":")).encode())
        signing_input = f"{encoded_header}.{b64url(payload)}".encode("ascii")
        token = f"{signing_input.decode()}.{b64url(signature(key, algorithm, signing_input))}"
        return {"token": token, "kid": header.get("kid")}


class Faults:
    """The fault the documents are served with now, and what was asked of them so far."""

    def __init__(self) -> None:
        """Start with no fault and no requests."""
        self._lock = threading.Lock()
        self.mode = "ok"
        self.seconds = 0.0
        self.target = "jwks"
        self._requests: Counter[str] = Counter()
        self._abandoned: Counter[str] = Counter()

    def set(self, mode: str, seconds: float, target: str) -> None:
        """Serve `target`'s documents with `mode` from now on."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {list(FAULT_MODES)}")
        if target not in FAULT_TARGETS:
            raise ValueError(f"unknown target {target!r}; choose from {list(FAULT_TARGETS)}")
        if not 0 <= seconds <= MAX_FAULT_SECONDS:  # bounded, so that no thread is stuck for good
            raise ValueError(f"seconds must be within [0, {MAX_FAULT_SECONDS}]")
        if mode.endswith("_bomb"):
            bombs()  # built before the fault is on: a request then costs no compression time
        with self._lock:
            self.mode, self.seconds, self.target = mode, seconds, target

    def for_document(self, name: str) -> tuple[str, float]:
        """The mode and seconds that apply to the document `name` ("jwks" or "discovery")."""
        with self._lock:
            if self.target in (name, "all"):
                return self.mode, self.seconds
            return "ok", 0.0

    def count(self, path: str, *, abandoned: bool = False) -> None:
        """Record a request for `path` (or that its client gave up)."""
        with self._lock:
            (self._abandoned if abandoned else self._requests)[path] += 1

    def stats(self) -> dict[str, Any]:
        """The counts so far, and the fault in force."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "abandoned": dict(self._abandoned),
                "fault": {"mode": self.mode, "seconds": self.seconds, "target": self.target},
            }


@functools.cache
def bombs() -> dict[str, tuple[str, bytes]]:
    """The compression bombs by fault mode: the `Content-Encoding` and the body as sent."""
    block = b" " * (1024 * 1024)
    streams = {}
    for name, wbits in (("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS)):
        compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
        chunks = [compressor.compress(block) for _ in range(BOMB_BYTES // len(block))]
        streams[name] = b"".join(chunks) + compressor.flush()
    return {
        "gzip_bomb": ("gzip", streams["gzip"]),
        "stacked_gzip_bomb": ("gzip, gzip", gzip.compress(streams["gzip"], 9)),
        "deflate_bomb": ("deflate", streams["deflate"]),
    }


def identity_jwk() -> dict[str, str]:
    """The identity point of Ed25519 as a public key: OpenSSL verifies `01 00..00` against it."""
    return {"kty": "OKP", "crv": "Ed25519", "kid": IDENTITY_KID, "x": b64url(b"\x01" + bytes(31))}


def hostile(mode: str, document: dict[str, Any], issuer: Issuer) -> bytes:
    """The JSON body that `mode` serves in place of `document` (bombs aside)."""
    keys = document.get("keys", [])
    if mode == "nested":
        return b'{"keys": ' + b"[" * NESTED_DEPTH + b"]" * NESTED_DEPTH + b"}"
    if mode == "no_keys":
        document = {"issuer": issuer.url, "jwks": keys}
    elif mode == "missing_members":
        document = {"keys": [stripped(key) for key in keys]}
    elif mode == "big_ints":
        document = {"keys": [with_big_ints(key) for key in keys]}
    elif mode == "too_many_keys" and keys:
        many = [{**keys[n % len(keys)], "kid": f"many-{n}"} for n in range(TOO_MANY_KEYS)]
        document = {"keys": many}
    elif mode == "identity_key":
        document = {"keys": [*keys, identity_jwk()]}
    elif mode == "bad_jwks_uri":
        document = {**document, "jwks_uri": f"http://{HOST}:{BAD_JWKS_URI_PORT}/jwks.json"}
    return json.dumps(document).encode()


def with_big_ints(jwk: dict[str, str]) -> dict[str, Any]:
    """`jwk` with each key member an integer too big for a C index (`bytes(2**63)` overflows)."""
    return {
        name: 2**63 + n if name in {"n", "e", "x", "y"} else value
        for n, (name, value) in enumerate(jwk.items())
    }


def stripped(jwk: dict[str, str]) -> dict[str, str]:
    """`jwk` without its key material: what `missing_members` serves."""
    return {name: value for name, value in jwk.items() if name not in {"n", "e", "x", "y"}}


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the issuer held by the server."""

    server: IssuerServer

    def log_message(self, format: str, *args: object) -> None:
        """Log one line per request to standard error (standard output carries only the port)."""
        sys.stderr.write(f"issuer: {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        """Serve the discovery document and the JWKS (as the fault in force says), or the stats."""
        if self.path == f"{CONTROL_PREFIX}stats":
            self._send(HTTPStatus.OK, self.server.faults.stats())
            return
        if self.path == f"{CONTROL_PREFIX}jwks":
            self._send(HTTPStatus.OK, self.server.issuer.jwks())
            return
        if not self.path.startswith(CONTROL_PREFIX):
            self.server.faults.count(self.path)
        issuer = self.server.issuer
        documents = {
            f"{issuer.base}/.well-known/openid-configuration": ("discovery", issuer.discovery),
            f"{issuer.base}/.well-known/jwks.json": ("jwks", issuer.jwks),
        }
        url = f"http://{HOST}:{self.server.server_port}{self.path}"
        found = documents.get(url)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        name, document = found
        mode, seconds = self.server.faults.for_document(name)
        if mode == "slow" and self._client_left_within(seconds):
            self.server.faults.count(self.path, abandoned=True)
            return
        if mode in ("ok", "slow"):
            self._send(HTTPStatus.OK, document())
        elif mode == "down":
            self.close_connection = True  # no status line at all: as if the issuer died
        elif mode == "redirect_loop":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", url)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "huge":
            self._send_huge(document())
        else:
            self._send_garbage(mode, document())

    def _client_left_within(self, seconds: float) -> bool:
        """Wait `seconds`; True as soon as the client closes its end of the connection."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(
                [self.connection], [], [], min(remaining, DISCONNECT_POLL_SECONDS)
            )
            if not readable:
                continue
            try:
                if not self.connection.recv(1, socket.MSG_PEEK):
                    return True
            except OSError:
                return True
            time.sleep(DISCONNECT_POLL_SECONDS)  # bytes of a next request: keep waiting
        return False

    def _send_garbage(self, mode: str, document: dict[str, Any]) -> None:
        encoding = None
        if mode == "html":
            body = b"<!doctype html><html><body><h1>Service Unavailable</h1></body></html>"
            content_type = "text/html; charset=utf-8"
        elif mode.endswith("_bomb"):
            encoding, body = bombs()[mode]
            content_type = "application/json"
        else:
            content_type = "application/json"
            body = hostile(mode, document, self.server.issuer)
            if mode == "invalid_json":
                body = body[: len(body) // 2]
            elif mode == "gzip":
                encoding, body = "gzip", gzip.compress(body)
            elif mode == "brotli":
                encoding = "br"  # the bytes stay plain JSON: only the label is wrong
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        if encoding is not None:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_huge(self, document: dict[str, Any]) -> None:
        """The current keys under other kids, padded: harmful only if a client reads it whole."""
        keys = [{**key, "kid": f"huge-{key.get('kid')}"} for key in document.get("keys", [])]
        head = json.dumps({"keys": keys})[:-1].encode() + b', "padding": "'
        tail = b'"}'
        padding = HUGE_BODY_BYTES - len(head) - len(tail)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(HUGE_BODY_BYTES))
        self.end_headers()
        chunk = b"x" * CHUNK_BYTES
        try:
            self.wfile.write(head)
            while padding > 0:
                self.wfile.write(chunk[:padding])
                padding -= CHUNK_BYTES
            self.wfile.write(tail)
        except OSError:  # the client stopped reading, as it should
            self.server.faults.count(self.path, abandoned=True)
            self.close_connection = True

    def do_POST(self) -> None:
        """Sign a token, rotate keys or set a fault."""
        try:
            body = self._body()
            if self.path == "/_control/sign":
                algorithm = body.get("alg", "RS256")
                if algorithm not in FAMILY_OF:
                    raise ValueError(f"cannot sign {algorithm!r}; choose from {list(FAMILY_OF)}")
                header = body.get("header")
                if header is not None and not isinstance(header, dict):
                    raise TypeError("header must be a JSON object")
                payload_b64 = body.get("payload_b64")
                payload = None if payload_b64 is None else b64decode(payload_b64)
                result: dict[str, Any] = self.server.issuer.sign(
                    algorithm,
                    dict(body.get("claims", {})),
                    body.get("kid"),
                    header=header,
                    payload=payload,
                )
            elif self.path == "/_control/rotate":
                families = body.get("families", list(FAMILIES))
                if not set(families) <= set(FAMILIES):
                    raise ValueError(f"unknown family in {families!r}; choose from {FAMILIES}")
                result = {"kids": self.server.issuer.rotate(families)}
            elif self.path == "/_control/fault":
                self.server.faults.set(
                    str(body.get("mode", "ok")),
                    float(body.get("seconds", 0.0)),
                    str(body.get("target", "jwks")),
                )
                result = self.server.faults.stats()["fault"]
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
        except (ValueError, TypeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._send(HTTPStatus.OK, result)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        data = json.loads(self.rfile.read(length) or b"{}")
        if not isinstance(data, dict):
            raise TypeError("the request body must be a JSON object")
        return data

    def _send(self, status: HTTPStatus, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class IssuerServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the issuer its handlers serve, and its faults."""

    issuer: Issuer
    faults: Faults


def b64decode(text: object) -> bytes:
    """The bytes of a base64url string, padded or not."""
    if not isinstance(text, str):
        raise TypeError("payload_b64 must be a string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"payload_b64 is not base64url: {exc}") from None


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--keys", type=Path, help="folder that keeps the keys across restarts")
    parser.add_argument(
        "--issuer-path",
        default="",
        help="appended to http://127.0.0.1:<port> to make the issuer URL ('/': a trailing slash)",
    )
    parser.add_argument(
        "--algorithms",
        help="publish only the keys of these comma-separated algorithms, each with its `alg` "
        "member when a family has exactly one (default: every key, no `alg` member)",
    )
    arguments = parser.parse_args(argv)
    if arguments.issuer_path and not arguments.issuer_path.startswith("/"):
        parser.error("--issuer-path must start with '/'")
    if arguments.algorithms is not None:
        arguments.algorithms = [name for name in arguments.algorithms.split(",") if name]
        unknown = [name for name in arguments.algorithms if name not in FAMILY_OF]
        if unknown or not arguments.algorithms:
            parser.error(f"--algorithms takes some of {', '.join(FAMILY_OF)}")
    return arguments


def main(argv: list[str]) -> None:
    """Bind, print the port, serve until killed."""
    arguments = parse_arguments(argv)
    if arguments.keys is not None:
        arguments.keys.mkdir(parents=True, exist_ok=True)
    server = IssuerServer((HOST, arguments.port), Handler)
    port = server.server_port
    server.issuer = Issuer(
        url=f"http://{HOST}:{port}{arguments.issuer_path}",
        algorithms=arguments.algorithms or list(FAMILY_OF),
        keys_dir=arguments.keys,
        tag_alg=arguments.algorithms is not None,
    )
    server.faults = Faults()
    # The socket is listening already: once this line is out, clients may connect.
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
