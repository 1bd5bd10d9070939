"""Benchmark helpers that run inside the generated service's environment (started by run.py).

Subcommands: `keys` (one key per family, JWKS, public PEM), `mint` (a pool of signed tokens),
`jwks-server` (a stdlib JWKS issuer on loopback that counts fetches), `burst` (N concurrent
requests once /health answers), `micro` (verification alone, no HTTP), `check-peers` (what each
peer answers to a valid token and to bad ones: the template's tests check the peers are fair).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

AUDIENCE = "bench-api"
KIDS = {"rsa": "bench-rsa", "ec": "bench-ec", "okp": "bench-okp"}
FAMILY_OF = {"RS256": "rsa", "PS256": "rsa", "ES256": "ec", "EdDSA": "okp"}
MICRO_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_int(value: int) -> str:
    """Encode a JWK integer member: big-endian bytes, base64url."""
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def b64url_decode(text: str) -> bytes:
    """Inverse of `b64url`."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- keys and tokens ---------------------------------------------------------------------------


def public_jwk(family: str, key: PrivateKey) -> dict[str, Any]:
    """Return the public JWK of `key`: `kid` and `use` but no `alg`, as many issuers publish."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64url_int(numbers.n), "e": b64url_int(numbers.e)}
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(point.x.to_bytes(32, "big")),
            "y": b64url(point.y.to_bytes(32, "big")),
        }
    else:
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    return {**jwk, "kid": KIDS[family], "use": "sig"}


def make_keys(out: Path) -> None:
    """Write `keys.json` (private PEMs), `jwks.json` and `rsa-public.pem` into `out`."""
    private: dict[str, PrivateKey] = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "okp": ed25519.Ed25519PrivateKey.generate(),
    }
    pems = {
        family: key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        for family, key in private.items()
    }
    (out / "keys.json").write_text(json.dumps(pems))
    jwks = {"keys": [public_jwk(family, key) for family, key in private.items()]}
    (out / "jwks.json").write_text(json.dumps(jwks))
    public_pem = (
        private["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (out / "rsa-public.pem").write_bytes(public_pem)


def load_private(keys_dir: Path, family: str) -> PrivateKey:
    """Load the private key of one family from `keys.json`."""
    pem = json.loads((keys_dir / "keys.json").read_text())[family].encode("ascii")
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, PrivateKey):
        raise SystemExit(f"{keys_dir / 'keys.json'}: unexpected {family} key")
    return key


def sign(key: PrivateKey, algorithm: str, claims: dict[str, Any]) -> str:
    """Sign `claims` into a compact JWS (the same bytes a JWT library would produce)."""
    header = {"alg": algorithm, "typ": "JWT", "kid": KIDS[FAMILY_OF.get(algorithm, "rsa")]}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    ).encode("ascii")
    if algorithm == "RS256":
        assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif algorithm == "PS256":
        assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(signing_input, pss, hashes.SHA256())
    elif algorithm == "ES256":
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # noqa: S101
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        assert isinstance(key, ed25519.Ed25519PrivateKey)  # noqa: S101
        signature = key.sign(signing_input)
    return signing_input.decode("ascii") + "." + b64url(signature)


def claims_for(issuer: str, lifetime: int = 3600) -> dict[str, Any]:
    """Typical access-token claims; `jti` makes every token unique."""
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": "bench-user",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + lifetime,
        "scope": "read write",
        "jti": uuid.uuid4().hex,
    }


def _mint_chunk(job: tuple[str, str, str, int, int]) -> list[str]:
    keys_dir, issuer, algorithm, lifetime, count = job
    key = load_private(Path(keys_dir), FAMILY_OF[algorithm])
    return [sign(key, algorithm, claims_for(issuer, lifetime)) for _ in range(count)]


def mint(
    keys_dir: Path, issuer: str, algorithm: str, lifetime: int, count: int, out: Path, jobs: int
) -> None:
    """Write `count` distinct tokens to `out`, one a line, signing in `jobs` processes."""
    chunk = max(1, -(-count // (jobs * 4)))
    sizes = [min(chunk, count - start) for start in range(0, count, chunk)]
    work = [(str(keys_dir), issuer, algorithm, lifetime, size) for size in sizes]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        tokens = [token for part in pool.map(_mint_chunk, work) for token in part]
    out.write_text("\n".join(tokens) + "\n")


# --- JWKS server ------------------------------------------------------------------------------


def jwks_server(keys_dir: Path, delay: float) -> ThreadingHTTPServer:
    """Build a server of discovery + JWKS on a free loopback port that counts what is fetched.

    `/stats` answers the counts and the times (time.time()) at which JWKS answers were sent.
    Every discovery or JWKS answer is held back `delay` seconds (the slow-issuer cold start).
    """
    jwks = (keys_dir / "jwks.json").read_bytes()
    counts: Counter[str] = Counter()
    answered_at: list[float] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/stats":
                with lock:
                    body = json.dumps({"counts": counts, "jwks_answered_at": answered_at})
                self._send(body.encode())
                return
            if self.path == "/.well-known/openid-configuration":
                kind = "discovery"
                body = json.dumps(
                    {"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json"}
                ).encode()
            elif self.path == "/.well-known/jwks.json":
                kind, body = "jwks", jwks
            else:
                self.send_error(404)
                return
            with lock:
                counts[kind] += 1
            if delay:
                time.sleep(delay)
            self._send(body)
            if kind == "jwks":
                with lock:
                    answered_at.append(time.time())

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401
            """Quiet: the benchmark reads /stats instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


# --- peers check ------------------------------------------------------------------------------


def check_peers(keys_dir: Path, names: list[str]) -> dict[str, dict[str, int]]:
    """Return the status each named peer answers to a valid RS256 token and to bad ones."""
    from litestar.testing import TestClient

    server = jwks_server(keys_dir, delay=0.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ.update(
        BENCH_PEER=names[0],
        BENCH_ISSUER=issuer,
        BENCH_AUDIENCE=AUDIENCE,
        BENCH_JWKS_URL=f"{issuer}/.well-known/jwks.json",
        BENCH_PUBLIC_PEM=str(keys_dir / "rsa-public.pem"),
    )
    sys.path.insert(0, str(Path(__file__).parent))
    peers = importlib.import_module("peers")
    key = load_private(keys_dir, "rsa")
    claims = claims_for(issuer)
    valid = sign(key, "RS256", claims)
    header, payload, signature = valid.split(".")
    middle = len(signature) // 2
    forged = (
        signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    )
    tokens = {
        "valid": valid,
        "bad signature": f"{header}.{payload}.{forged}",
        "expired": sign(key, "RS256", {**claims, "exp": claims["iat"] - 60}),
        "wrong issuer": sign(key, "RS256", {**claims, "iss": issuer + "/other"}),
        "wrong audience": sign(key, "RS256", {**claims, "aud": "another-api"}),
    }
    answers: dict[str, dict[str, int]] = {}
    for name in names:
        with TestClient(peers.create(name)) as client:
            answers[name] = {
                case: client.get(
                    "/protected", headers={"Authorization": f"Bearer {token}"}
                ).status_code
                for case, token in tokens.items()
            }
    server.shutdown()
    return answers


# --- cold burst -------------------------------------------------------------------------------


async def burst(base_url: str, tokens: list[str], timeout: float) -> dict[str, Any]:
    """Wait for /health, then send one request per token to /protected, all at once."""
    import httpx

    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("service did not answer /health within 30 s")
            await asyncio.sleep(0.01)
        started = time.time()
        responses = await asyncio.gather(
            *(
                client.get("/protected", headers={"Authorization": f"Bearer {token}"})
                for token in tokens
            ),
            return_exceptions=True,
        )
        finished = time.time()
    statuses = Counter(
        str(r.status_code) if isinstance(r, httpx.Response) else type(r).__name__ for r in responses
    )
    return {"statuses": dict(statuses), "started": started, "finished": finished}


# --- microbenchmark ---------------------------------------------------------------------------


def _time_per_call(call: Any, budget: float = 0.1, repeats: int = 7) -> float:  # noqa: ANN401
    """µs per call: the best of `repeats` batches sized to take about `budget` seconds each.

    The minimum, not the median: on a shared machine other processes only ever add time.
    """
    call()
    started = time.perf_counter()
    calls = 0
    while time.perf_counter() - started < 0.05:
        call()
        calls += 1
    batch = max(10, int(calls * budget / 0.05))
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - started) / batch * 1e6)
    return min(samples)


def _raw_verifier(algorithm: str, key: PrivateKey, token: str) -> Any:  # noqa: ANN401
    """`cryptography` verify of the token's signature alone (inputs decoded beforehand)."""
    signing_input, _, signature_b64 = token.rpartition(".")
    message = signing_input.encode("ascii")
    signature = b64url_decode(signature_b64)
    public = key.public_key()
    if algorithm == "RS256":
        return lambda: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    if algorithm == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return lambda: public.verify(signature, message, pss, hashes.SHA256())
    if algorithm == "ES256":
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        return lambda: public.verify(der, message, ec.ECDSA(hashes.SHA256()))
    return lambda: public.verify(signature, message)


def micro(package: str, keys_dir: Path) -> list[dict[str, Any]]:
    """µs per verification: ours (cache off / on), python-jose decode, raw `cryptography`."""
    import httpx
    from jose import jwk as jose_jwk
    from jose import jwt as jose_jwt

    auth = importlib.import_module(f"{package}.auth")
    issuer = "https://issuer.bench.test"
    jwks = json.loads((keys_dir / "jwks.json").read_text())
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=jwks))
    loop = asyncio.new_event_loop()
    rows = []
    try:
        for algorithm in MICRO_ALGORITHMS:
            family = FAMILY_OF[algorithm]
            key = load_private(keys_dir, family)
            token = sign(key, algorithm, claims_for(issuer))
            results: dict[str, float] = {}
            for label, cache_size in (("ours_uncached", 0), ("ours_cached", 4096)):
                settings = auth.AuthSettings(
                    issuer=issuer,
                    audience=(AUDIENCE,),
                    algorithms=(algorithm,),
                    jwks_url=f"{issuer}/jwks.json",
                    profile="generic",
                    verified_cache_size=cache_size,
                    _env_file=None,
                )
                issuers = auth.IssuerRegistry.from_settings(settings, transport=transport)
                verifier = auth.TokenVerifier(settings, issuers)
                loop.run_until_complete(issuers.__aenter__())
                try:
                    for _ in range(2):  # the second success stores it in the cache
                        loop.run_until_complete(verifier.verify(token))
                    batch = functools.partial(_drive, verifier, token, 50)
                    results[label] = _time_per_call(lambda b=batch: loop.run_until_complete(b()))
                    results[label] /= 50
                finally:
                    loop.run_until_complete(issuers.__aexit__(None, None, None))
            jwk_dict = next(k for k in jwks["keys"] if k["kid"] == KIDS[family])
            prebuilt = jose_jwk.construct(jwk_dict, algorithm)
            results["jose_decode"] = _time_per_call(
                functools.partial(
                    jose_jwt.decode,
                    token,
                    prebuilt,
                    algorithms=[algorithm],
                    audience=AUDIENCE,
                    issuer=issuer,
                )
            )
            results["raw"] = _time_per_call(_raw_verifier(algorithm, key, token))
            rows.append({"algorithm": algorithm, **results})
    finally:
        loop.close()
    return rows


async def _drive(verifier: Any, token: str, count: int) -> None:  # noqa: ANN401
    for _ in range(count):
        await verifier.verify(token)


# --- command line -----------------------------------------------------------------------------


def main() -> None:
    """Dispatch one subcommand (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys")
    keys.add_argument("--out", type=Path, required=True)
    mint_cmd = sub.add_parser("mint")
    mint_cmd.add_argument("--keys", type=Path, required=True)
    mint_cmd.add_argument("--issuer", required=True)
    mint_cmd.add_argument("--algorithm", default="RS256")
    mint_cmd.add_argument("--lifetime", type=int, default=3600)
    mint_cmd.add_argument("--count", type=int, required=True)
    mint_cmd.add_argument("--jobs", type=int, default=2)
    mint_cmd.add_argument("--out", type=Path, required=True)
    server = sub.add_parser("jwks-server")
    server.add_argument("--keys", type=Path, required=True)
    server.add_argument("--delay", type=float, default=0.0)
    burst_cmd = sub.add_parser("burst")
    burst_cmd.add_argument("--url", required=True)
    burst_cmd.add_argument("--tokens", type=Path, required=True)
    burst_cmd.add_argument("--timeout", type=float, default=30.0)
    check = sub.add_parser("check-peers")
    check.add_argument("--keys", type=Path, required=True)
    check.add_argument("peers", nargs="+")
    micro_cmd = sub.add_parser("micro")
    micro_cmd.add_argument("--package", required=True)
    micro_cmd.add_argument("--keys", type=Path, required=True)
    args = parser.parse_args()

    if args.command == "keys":
        make_keys(args.out)
    elif args.command == "mint":
        mint(args.keys, args.issuer, args.algorithm, args.lifetime, args.count, args.out, args.jobs)
    elif args.command == "jwks-server":
        server = jwks_server(args.keys, args.delay)
        print(server.server_address[1], flush=True)
        server.serve_forever()
    elif args.command == "check-peers":
        print(json.dumps(check_peers(args.keys, args.peers)))
    elif args.command == "burst":
        tokens = args.tokens.read_text().split()
        print(json.dumps(asyncio.run(burst(args.url, tokens, args.timeout))))
    elif args.command == "micro":
        print(json.dumps(micro(args.package, args.keys)))


if __name__ == "__main__":
    sys.exit(main())
