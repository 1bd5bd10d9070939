"""Refuse degenerate Ed25519 public keys: non-canonical, off the curve, or of small order.

OpenSSL verifies against any 32 bytes it is given: with the identity point as the public key,
the signature `01 00...00` verifies every message. RFC 8032 section 5.1.3 decoding plus an
order check (L * A is the identity and A is not) leaves only keys of the prime-order subgroup,
the keys a private key can produce. Pure Python on extended coordinates: about a millisecond,
once per published key.
"""

from __future__ import annotations

from typing import Final

__all__ = ("check_public_key",)

P: Final = 2**255 - 19
L: Final = 2**252 + 27742317777372353535851937790883648493
"""The order of the base point: the prime-order subgroup that genuine keys lie in."""
D: Final = -121665 * pow(121666, -1, P) % P
SQRT_MINUS_ONE: Final = pow(2, (P - 1) // 4, P)
KEY_BYTES: Final = 32

Point = tuple[int, int, int, int]
"""(X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z."""
IDENTITY: Final[Point] = (0, 1, 1, 0)


def check_public_key(raw: bytes) -> None:
    """Raise `ValueError` unless `raw` encodes a point of the prime-order subgroup, canonically."""
    if len(raw) != KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {KEY_BYTES} bytes, not {len(raw)}")
    point = _decode(raw)
    if _is_identity(point) or not _is_identity(_multiply(L, point)):
        raise ValueError("the Ed25519 public key is not in the prime-order subgroup")


def _decode(raw: bytes) -> Point:
    encoded = int.from_bytes(raw, "little")
    y, sign = encoded & ((1 << 255) - 1), encoded >> 255
    if y >= P:
        raise ValueError("the Ed25519 public key is not canonical (y >= p)")
    x = _recover_x(y)
    if x == 0 and sign:
        raise ValueError("the Ed25519 public key is not canonical (x = 0 with the sign bit set)")
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _recover_x(y: int) -> int:
    """x from y on -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032 section 5.1.3, p = 5 mod 8)."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_MINUS_ONE % P
    if v * x * x % P != u:
        raise ValueError("the Ed25519 public key is not a point on the curve")
    return x


def _add(first: Point, second: Point) -> Point:
    """Point addition (RFC 8032 section 5.1.4), complete for every pair of points."""
    x1, y1, z1, t1 = first
    x2, y2, z2, t2 = second
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(scalar: int, point: Point) -> Point:
    result = IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0
