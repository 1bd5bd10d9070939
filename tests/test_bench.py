"""The benchmark's peers verify what bench/README.md says they verify, so the comparison is fair.

The benchmark itself needs wrk and minutes, and is not part of the test suite; this runs each peer
of `bench/peers.py` in-process (Litestar's `TestClient`) inside the generated project's
environment, with PyJWT added as the benchmark adds it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from conftest import TEMPLATE_DIR, Installed

TOOLS: Final = TEMPLATE_DIR / "bench" / "tools.py"
CASES: Final = ("valid", "bad signature", "expired", "wrong issuer", "wrong audience")


def answers(**statuses: int) -> dict[str, int]:
    """The status expected for each case: 200 unless given (`bad_signature=401`, ...)."""
    return {case: statuses.get(case.replace(" ", "_"), 200) for case in CASES}


REFUSES_ALL: Final = answers(bad_signature=401, expired=401, wrong_issuer=401, wrong_audience=401)
EXPECTED: Final = {
    "baseline": answers(),
    "ceiling": answers(),
    "pyjwt-jwks": REFUSES_ALL,
    "litestar-jwt": REFUSES_ALL,
    "tutorial": REFUSES_ALL,
    "signature-only": answers(bad_signature=401),
}
"""The verifying peers refuse all four bad tokens, like the generated service; the baseline
and the ceiling verify nothing, and the floor checks the signature only."""


def test_peers_verify_what_the_benchmark_says(installed_default: Installed, tmp_path: Path) -> None:
    """Each peer answers a valid token and four bad ones as bench/README.md describes it."""
    with_pyjwt = ("uv", "run", "--with", "pyjwt[crypto]", "python", str(TOOLS))
    installed_default.run(*with_pyjwt, "keys", "--out", str(tmp_path))
    result = installed_default.run(*with_pyjwt, "check-peers", "--keys", str(tmp_path), *EXPECTED)
    assert json.loads(result.stdout.splitlines()[-1]) == EXPECTED
