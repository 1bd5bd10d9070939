"""The benchmark environment: the rendered template, its uv environment, the machine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

    from processes import Processes

BENCH_DIR: Final = Path(__file__).resolve().parent
TEMPLATE_DIR: Final = BENCH_DIR.parent
TOOLS: Final = BENCH_DIR / "tools.py"
EXTRA_PACKAGES: Final = ("pyjwt[crypto]", "py-spy")
VERSIONS_OF: Final = (
    "litestar",
    "python-jose",
    "uvicorn",
    "h11",
    "uvloop",
    "httptools",
    "cryptography",
    "pyjwt",
    "cachetools",
    "httpx",
)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (cookiecutter's hooks print their next-steps banner there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def render(work: Path) -> Path:
    """Render the template with its default answers; the project folder."""
    from cookiecutter.main import cookiecutter

    with quiet_stdout():
        project = cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(work))
    return Path(project)


def install(project: Path, venv: Path) -> Path:
    """Make a uv environment with the generated service and the peers' packages; its python."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    interpreter = getattr(sys, "_base_executable", sys.executable)
    subprocess.run(["uv", "venv", "-q", "--python", interpreter, str(venv)], env=env, check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(python),
            str(project),
            *EXTRA_PACKAGES,
        ],
        env=env,
        check=True,
    )
    return python


def package_versions(python: Path) -> dict[str, str]:
    """Installed versions of the packages that matter, read in the benchmark environment."""
    code = (
        "import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = version(name)\n"
        "    except PackageNotFoundError: out[name] = '-'\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [str(python), "-c", code, *VERSIONS_OF], capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout))


def machine_description() -> dict[str, str]:
    """nproc, CPU model, memory, kernel."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{memory_kib / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
    }


def base_env() -> dict[str, str]:
    """Return the environment minus anything that would configure the service from outside."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTH_", "BENCH_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # peers.py is imported from bench/: leave no cache there
    return env


def tool(python: Path, *args: str) -> str:
    """Run a `tools.py` command in the benchmark environment; its standard output."""
    result = subprocess.run(
        [str(python), str(TOOLS), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tools.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def mint(
    python: Path,
    work: Path,
    issuer: str,
    count: int,
    out: Path,
    *,
    jobs: int,
    algorithm: str = "RS256",
    lifetime: int = 3600,
) -> None:
    """Write `count` distinct tokens of `algorithm`, valid for `lifetime` seconds, to `out`."""
    tool(
        python,
        "mint",
        "--keys",
        str(work / "keys"),
        "--issuer",
        issuer,
        "--algorithm",
        algorithm,
        "--lifetime",
        str(lifetime),
        "--count",
        str(count),
        "--jobs",
        str(jobs),
        "--out",
        str(out),
    )


def first_line(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    """Return the first line `proc` writes to `path` (a port, say), waiting at most `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if "\n" in text:
            return text.split("\n", 1)[0]
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name}: the process exited:\n{text}")
        time.sleep(0.02)
    raise RuntimeError(f"{path.name}: nothing printed within {timeout:.0f}s")


def start_issuer(
    procs: Processes, python: Path, work: Path
) -> tuple[str, Path, subprocess.Popen[bytes]]:
    """Make the bench keys in `work/keys`, start the JWKS server: its URL, the keys, the process."""
    keys = work / "keys"
    keys.mkdir()
    tool(python, "keys", "--out", str(keys))
    output = work / "jwks.log"
    server = procs.start(
        [str(python), str(TOOLS), "jwks-server", "--keys", str(keys)],
        env=base_env(),
        cwd=work,
        output=output,
    )
    return f"http://127.0.0.1:{int(first_line(output, server))}", keys, server
