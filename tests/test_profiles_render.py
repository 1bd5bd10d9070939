"""Each provider profile, chosen at the prompt, generates a service that starts on its defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Bake, Installed, run

PROFILES = ("generic", "zuplo", "auth0", "keycloak", "okta", "entra", "cognito", "google")
TEMPLATE_DEFAULTS = json.loads((Path(__file__).parent.parent / "cookiecutter.json").read_text())

# Imports the rendered app module (which builds the app from the environment, as `serve` does)
# and prints what the service was configured with.
SHOW_DEFAULTS = """
from litestar_jwks_service.app import app
from litestar_jwks_service.auth import load_auth_settings
(entry,) = load_auth_settings().issuer_entries()
print(entry.profile, entry.issuer, ",".join(entry.allowed_algorithms), ",".join(entry.audience))
"""


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_defaults_start(
    profile: str, bake: Bake, installed_default: Installed, tmp_path: Path
) -> None:
    """With only `issuer_profile` answered, the app builds and follows the profile's defaults."""
    project = bake(tmp_path, {"issuer_profile": profile})
    env = {
        key: value for key, value in installed_default.env.items() if not key.startswith("AUTH_")
    }
    env["PYTHONPATH"] = str(project / "src")  # the rendered package shadows the installed one
    python = installed_default.path / ".venv" / "bin" / "python"
    shown = run([str(python), "-c", SHOW_DEFAULTS], project, env).stdout.split(" ")
    expected = TEMPLATE_DEFAULTS["_profile_defaults"][profile]
    assert shown[0] == profile
    assert shown[1] == expected["issuer"]
    assert shown[2] == expected["algorithms"]
    assert shown[3].strip() == expected["audience"]
