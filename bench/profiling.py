"""py-spy profile of the generated service under the fresh-token load, grouped by library."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from workloads import run_wrk

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lineup import App
    from workloads import Workload


def profile(
    python: Path, app: App, workload: Workload, seconds: float, work: Path, package: str
) -> dict[str, Any]:
    """py-spy samples of the running service under the fresh-token load, grouped by library."""
    raw = work / "profile.txt"
    spy = Path(python).parent / "py-spy"
    # Blocking mode (py-spy pauses the worker for each sample): --nonblocking tears stacks.
    argv = [str(spy), "record", "-p", str(app.pid), "-d", f"{seconds + 1:g}", "-r", "200"]
    argv += ["-f", "raw", "-o", str(raw)]
    recorder = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        time.sleep(0.5)
        measured = run_wrk(app, workload, seconds)
        output, _ = recorder.communicate(timeout=seconds + 30)
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)
            recorder.wait()
    if recorder.returncode != 0 or not raw.exists():
        return {"error": output.decode(errors="replace").strip()[-500:]}
    analysis = analyse_profile(raw.read_text(), package)
    analysis["cpu_us"] = measured.cpu_seconds / measured.requests * 1e6
    return analysis


SIGNATURE_LEAF: Final = re.compile(
    r"^(CryptographyRSAKey|CryptographyECKey|RSAPSSKey|EdDSAKey)\.verify \("
)
INCLUSIVE: Final = {
    # The middleware's own work; its `__call__` frame also spans the route it calls.
    "auth": (
        "should_bypass_middleware (",
        "credentials (",
        "TokenVerifier.verify (",
        "SenderBinding.check (",
    ),
    "verify": ("TokenVerifier.verify (",),
    "split": ("_split (",),
    "header": ("TokenVerifier._header (",),
    "key_for": ("KeySet.key_for (",),
    "decode": ("_decode_claims (", "_check_signature ("),
    "claims": ("TokenVerifier._check_times (", "ClaimRules.check_claims ("),
    "cache": ("VerifiedTokens.",),
}


def profile_groups(package: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Sample groups by the path prefix py-spy prints (relative to site-packages or stdlib)."""
    return (
        ("python-jose", ("jose/",)),
        ("our auth code", (f"{package}/auth/",)),
        ("our other code", (f"{package}/",)),
        ("cachetools", ("cachetools/",)),
        ("Litestar", ("litestar/", "msgspec/")),
        ("uvicorn + h11", ("uvicorn/", "h11/", "httptools/")),
        ("event loop + socket I/O", ("asyncio/", "selectors.py", "uvloop/")),
    )


def analyse_profile(raw: str, package: str) -> dict[str, Any]:
    """Shares of the server's event-loop-thread samples: by library, and inside the auth path."""
    groups_by_prefix = profile_groups(package)
    total = 0
    groups: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if frames[0].startswith("_bootstrap (threading.py"):
            continue  # a helper thread (logging queue) waiting; the event-loop thread serves
        count = int(count_text)
        total += count
        leaves[re.sub(r":\d+\)$", ")", frames[-1])] += count
        if SIGNATURE_LEAF.match(frames[-1]):
            groups["signature check (cryptography, C)"] += count
        else:
            groups[_group_of(frames, groups_by_prefix)] += count
        for name, prefixes in INCLUSIVE.items():
            if any(frame.startswith(prefixes) for frame in frames):
                inclusive[name] += count
    if not total:
        return {"error": "py-spy recorded no samples"}
    return {
        "samples": total,
        "groups": [(name, count / total) for name, count in groups.most_common()],
        "inclusive": {name: count / total for name, count in inclusive.items()},
        "leaves": [(name, count / total) for name, count in leaves.most_common(8)],
    }


def _group_of(
    frames: Sequence[str], groups_by_prefix: Sequence[tuple[str, tuple[str, ...]]]
) -> str:
    """Return the group of the innermost frame that belongs to a known library."""
    for frame in reversed(frames):
        path = frame.rpartition(" (")[2]
        for name, prefixes in groups_by_prefix:
            if path.startswith(prefixes):
                return name
    return "other (stdlib, interpreter)"
