"""The service's own settings: logs and metrics (no prefix: `LOG_FORMAT`, ...).

How tokens are verified is configured by `AUTH_*` variables: see `auth/settings.py`.
"""

from __future__ import annotations

from pathlib import Path  # noqa: TC003  # pydantic reads the annotations at runtime
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .auth.settings import SettingsError, describe

__all__ = ("ServiceSettings", "load_service_settings")


class ServiceSettings(BaseSettings):
    """How the service reports on itself."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    metrics_path: str = Field(default="/metrics", pattern=r"^(/[A-Za-z0-9._~/-]*)?$")
    metrics_require_token: bool = False
    metrics_dir: Path | None = None
    """A folder the worker processes merge their metrics through; `serve --workers N` sets it."""


def load_service_settings() -> ServiceSettings:
    """Read the logging and metrics settings, turning errors into one readable paragraph."""
    try:
        return ServiceSettings()
    except ValidationError as exc:
        raise SettingsError(describe(exc, "")) from None
