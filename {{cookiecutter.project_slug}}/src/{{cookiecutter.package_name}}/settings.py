"""Settings, read from the environment (prefix `AUTH_`) and an optional `.env` file."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .auth.algorithms import SUPPORTED_ALGORITHMS
from .auth.urls import check_url

CommaSeparated = Annotated[tuple[str, ...], NoDecode]
PATH_PREFIX = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+/?")
# RFC 7235 quoted-string content without quote and backslash, so it never needs escaping.
REALM = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")

# The answers given when the project was generated; each AUTH_* variable overrides its own.
DEFAULT_ISSUER = {{ cookiecutter.issuer | tojson }}
DEFAULT_AUDIENCE = {{ cookiecutter.audience | tojson }}
DEFAULT_ALGORITHMS = {{ cookiecutter.algorithms | tojson }}
DEFAULT_REALM = {{ cookiecutter.project_slug | tojson }}


class SettingsError(Exception):
    """The environment holds a setting the service cannot start with."""


class AuthSettings(BaseSettings):
    """How tokens are verified. Every field is read from `AUTH_<FIELD>`."""

    model_config = SettingsConfigDict(
        env_prefix="AUTH_", env_file=".env", extra="ignore", frozen=True
    )

    issuer: str = DEFAULT_ISSUER
    audience: CommaSeparated = Field(default=DEFAULT_AUDIENCE, validate_default=True)
    algorithms: CommaSeparated = Field(default=DEFAULT_ALGORITHMS, validate_default=True)
    jwks_url: str | None = None
    leeway: float = Field(default=30.0, ge=0, le=300)
    jwks_cache_ttl: float = Field(default=300.0, gt=0)
    jwks_max_stale: float = Field(default=86400.0, ge=0)
    refresh_cooldown: float = Field(default=30.0, gt=0)
    http_timeout: float = Field(default=5.0, gt=0, le=60)
    max_token_bytes: int = Field(default=8192, ge=512)
    verified_cache_size: int = Field(default=4096, ge=0)
    verified_cache_ttl: float = Field(default=60.0, ge=0)
    exclude_paths: CommaSeparated = ("/schema",)
    realm: str = DEFAULT_REALM

    @field_validator("audience", "algorithms", "exclude_paths", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return split_commas(value) if isinstance(value, str) else value

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        return check_url(value)

    @field_validator("jwks_url", mode="before")
    @classmethod
    def _check_jwks_url(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        return check_url(value) if isinstance(value, str) else value

    @field_validator("audience")
    @classmethod
    def _check_audience(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if any(char.isspace() for char in item):
                raise ValueError(f"audience {item!r} contains whitespace")
        return value

    @field_validator("algorithms")
    @classmethod
    def _check_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one algorithm is needed")
        for algorithm in value:
            if algorithm not in SUPPORTED_ALGORITHMS:
                raise ValueError(
                    f"{algorithm!r} is not supported; choose from {', '.join(SUPPORTED_ALGORITHMS)}"
                    " (none and HS* are never accepted: a JWKS is public)"
                )
        return value

    @field_validator("exclude_paths")
    @classmethod
    def _check_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not PATH_PREFIX.fullmatch(prefix):
                raise ValueError(
                    f"{prefix!r} is not a path prefix such as /schema or /public/docs "
                    "(it matches whole path segments: /schema covers /schema/... but not /schemas)"
                )
        return value

    @field_validator("realm")
    @classmethod
    def _check_realm(cls, value: str) -> str:
        if not REALM.fullmatch(value):
            raise ValueError(
                "the realm goes into the WWW-Authenticate header: use 1 to 64 printable ASCII "
                'characters without quotes or backslashes, such as "my-service"'
            )
        return value

    def exclusion_patterns(self) -> tuple[str, ...]:
        """`exclude_paths` as anchored patterns that match whole path segments only."""
        return tuple(f"^{re.escape(prefix.rstrip('/'))}(?:/|$)" for prefix in self.exclude_paths)


def split_commas(value: str) -> tuple[str, ...]:
    """Split `a, b,c` into `("a", "b", "c")`, dropping empty items."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


class ServiceSettings(BaseSettings):
    """How the service reports on itself: logs and metrics (no prefix: `LOG_FORMAT`, ...)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    metrics_path: str = Field(default="/metrics", pattern=r"^(/[A-Za-z0-9._~/-]*)?$")
    metrics_require_token: bool = False


def load_settings() -> AuthSettings:
    """Read the `AUTH_*` settings, turning validation errors into one readable paragraph."""
    try:
        return AuthSettings()
    except ValidationError as exc:
        raise SettingsError(describe(exc, "AUTH_")) from None


def load_service_settings() -> ServiceSettings:
    """Read the logging and metrics settings, like `load_settings`."""
    try:
        return ServiceSettings()
    except ValidationError as exc:
        raise SettingsError(describe(exc, "")) from None


def describe(error: ValidationError, prefix: str) -> str:
    """Name each bad variable, its value and what is wrong, in one paragraph."""
    problems = []
    for item in error.errors():
        name = f"{prefix}{str(item['loc'][0]).upper()}" if item["loc"] else f"{prefix}*"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{name}={item['input']!r}: {message}")
    return (
        "Invalid configuration: "
        + "; ".join(problems)
        + ". Fix the environment variable (or the .env file) and start again."
    )
