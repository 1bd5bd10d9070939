"""Remove the files of options that were turned off, then print the next steps."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# Each optional path and the rendered switch that keeps it: "yes" keeps it, "" removes it.
# Keyed by path, not by switch: two switches that are both off would be one dict key.
KEPT_IF: dict[str, str] = {
    "Dockerfile": {{ cookiecutter.__docker | tojson }},
    ".dockerignore": {{ cookiecutter.__docker | tojson }},
    "deploy": {{ cookiecutter.__docker | tojson }},
    ".github": {{ cookiecutter.__github_actions | tojson }},
}
SLUG: str = {{ cookiecutter.project_slug | tojson }}


def remove(path: Path) -> None:
    """Delete a file or a whole folder; a path that is already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def main() -> int:
    """Prune the project in the current directory and tell the user what to run."""
    for name, kept in KEPT_IF.items():
        if not kept:
            remove(Path(name))
    print(
        "\nNext steps:\n"
        f"  cd {SLUG}\n"
        f"  uv run {SLUG} dev      # the service with an embedded development issuer\n"
        f"  uv run {SLUG} token    # mint a token that the dev issuer signed\n"
        "  uv run pytest\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
