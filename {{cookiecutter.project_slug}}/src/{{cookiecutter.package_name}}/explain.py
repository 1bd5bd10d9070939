"""`doctor --token`: check one token as the service would, and name every reason it is refused.

The token is decoded without being trusted; its issuer's keys are fetched for real. Each check
runs on its own, so that a token with two problems gets two lines, each with its fix.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any, Final

from .auth import InvalidToken, IssuerRegistry, KeysUnavailable
from .doctor import Report

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from .auth import AuthSettings, Issuer

__all__ = ("explain_token",)

FIXES: Final = {
    "algorithm_not_allowed": "sign with an allowed algorithm, or add it to the algorithms setting",
    "unsupported_header": "the service accepts no `crit` or `b64` header",
    "malformed_kid": "`kid` must be a string of at most 256 characters",
    "unknown_kid": "the issuer does not publish this `kid`: the token was signed by another key "
    "(another issuer or environment?), or the key was withdrawn",
    "no_unique_key": "give the token a `kid`: the issuer publishes several keys for its `alg`",
    "bad_signature": "the signature does not verify with the published key: the token was "
    "altered, or signed by another key under the same `kid`",
    "missing_exp": "the issuer must set `exp`",
    "expired": "get a new token (or check this machine's clock)",
    "not_yet_valid": "`nbf` is in the future: check the clocks of the issuer and this machine",
    "issued_in_future": "`iat` is in the future: check the clocks of the issuer and this machine",
    "missing_sub": "the issuer must set `sub` to a non-empty string",
    "wrong_token_type": "the `typ` header is not an accepted type (AUTH_TOKEN_TYPES): is this an "
    "ID token? Send the access token",
    "not_an_access_token": "this looks like an ID token (the profile's access-token claim is "
    "missing): send the access token",
    "wrong_audience": "the token is for another audience: ask the issuer for a token for this "
    "API, or add its `aud` to AUTH_AUDIENCE if it really is this API",
    "required_claim_mismatch": "a claim of AUTH_REQUIRED_CLAIMS is missing or has another value",
    "tenant_not_allowed": "the token's tenant (`tid`) is not in AUTH_TENANTS",
    "wrong_issuer": "`iss` and the issuer template disagree (for Entra ID: `iss` and `tid`)",
}


async def explain_token(
    settings: AuthSettings,
    token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> Report:
    """The findings for `token`; `ok` is True only if the service would accept it."""
    report = Report(["Token"])
    parts = token.strip().split(".")
    header, claims = (_segment(parts, 0), _segment(parts, 1)) if len(parts) == 3 else (None, None)
    if header is None or claims is None:
        report.fail("not a compact JWT: three base64url segments, header and claims JSON objects")
        return report
    report.good(f"header {json.dumps(header)}; claims {json.dumps(claims)}")
    issuers = IssuerRegistry.from_settings(settings, transport=transport)
    try:
        issuer = issuers.find(claims.get("iss"))
    except InvalidToken:
        trusted = ", ".join(repr(entry.issuer) for entry in settings.issuer_entries())
        report.fail(
            f"iss {claims.get('iss')!r} is none of the trusted issuers ({trusted}): set "
            "AUTH_ISSUER (or an AUTH_ISSUERS entry) to it exactly, a trailing slash included"
        )
        return report
    report.good(f"issuer {issuer.name!r} is trusted")
    async with issuer.keys:
        await _check_signature(report, issuer, header, token)
    for reason in _claim_problems(settings, issuer, header, claims, clock()):
        report.fail(f"{reason}: {FIXES.get(reason, 'see the README, Behaviour')}")
    if report.ok:
        report.good("the service accepts this token")
    return report


def _segment(parts: list[str], index: int) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(parts[index] + "=" * (-len(parts[index]) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


async def _check_signature(
    report: Report, issuer: Issuer, header: dict[str, Any], token: str
) -> None:
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in issuer.algorithms:
        allowed = ",".join(sorted(issuer.algorithms))
        report.fail(f"algorithm_not_allowed: alg {algorithm!r} is not one of {allowed}")
        return
    try:
        key = await issuer.keys.key_for(kid if isinstance(kid, str) else None, str(algorithm))
    except KeysUnavailable:
        report.fail("keys_unavailable: the issuer's keys could not be fetched: run `doctor`")
        return
    except InvalidToken as refused:
        report.fail(f"{refused.reason}: {FIXES[refused.reason]}")
        return
    signing_input, _, signature = token.strip().rpartition(".")
    try:
        padded = signature + "=" * (-len(signature) % 4)
        verified = key.verify(signing_input.encode(), base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        verified = False
    if verified:
        report.good(f"signature verifies with the issuer's key {kid!r}")
    else:
        report.fail(f"bad_signature: {FIXES['bad_signature']}")


def _claim_problems(
    settings: AuthSettings,
    issuer: Issuer,
    header: dict[str, Any],
    claims: dict[str, Any],
    now: float,
) -> list[str]:
    """Every claim rule the token breaks, each checked alone."""
    problems = []
    leeway = settings.leeway
    exp, nbf, iat = (claims.get(name) for name in ("exp", "nbf", "iat"))
    if not isinstance(exp, int | float):
        problems.append("missing_exp")
    elif now > exp + leeway:
        problems.append("expired")
    if isinstance(nbf, int | float) and nbf > now + leeway:
        problems.append("not_yet_valid")
    if isinstance(iat, int | float) and iat > now + leeway:
        problems.append("issued_in_future")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        problems.append("missing_sub")
    rules = issuer.rules
    nothing: frozenset[str] = frozenset()
    alone = (  # each rule group of the profile, with the other groups switched off
        dataclasses.replace(rules, required_claims=(), audiences=nothing, resources=nothing),
        dataclasses.replace(rules, access_token_claims=(), required_claims=()),
        dataclasses.replace(rules, access_token_claims=(), audiences=nothing, resources=nothing),
    )
    try:
        rules.check_header(header)
    except InvalidToken as refused:
        problems.append(refused.reason)
    for only in alone:
        try:
            only.check_claims(claims)
        except InvalidToken as refused:
            problems.append(refused.reason)
    return list(dict.fromkeys(problems))
