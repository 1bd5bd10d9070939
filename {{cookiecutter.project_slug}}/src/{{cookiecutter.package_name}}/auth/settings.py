"""How tokens are verified: `AUTH_*` settings from the environment (or `.env`), checked at start-up."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pydantic_settings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from . import rules
from .profiles import TENANT_PLACEHOLDER, ClaimRules, get_profile
from .resource import check_resource
from .urls import check_url

__all__ = (
    "AuthSettings",
    "IssuerSettings",
    "SettingsError",
    "describe",
    "load_auth_settings",
    "split_commas",
)

# The answers given when the project was generated; each AUTH_* variable overrides its own.
DEFAULT_ISSUER = {{ cookiecutter.issuer | tojson }}
DEFAULT_AUDIENCE = {{ cookiecutter.audience | tojson }}
DEFAULT_ALGORITHMS = {{ cookiecutter.algorithms | tojson }}
DEFAULT_PROFILE = {{ cookiecutter.issuer_profile | tojson }}
DEFAULT_REALM = {{ cookiecutter.project_slug | tojson }}
DEFAULT_RESOURCE_NAME = {{ cookiecutter.project_name | tojson }}

PATH_PREFIX = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+/?")
# RFC 9110 section 5.1: a header field name is a token.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
MIN_NONCE_SECRET_LENGTH = 32
# RFC 7235 quoted-string content without quote and backslash, so it never needs escaping.
REALM = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")
# What one issuer entry is made of; AUTH_ISSUERS entries and the single-issuer AUTH_* share them.
ISSUER_FIELDS = frozenset(
    {
        "issuer",
        "audience",
        "algorithms",
        "jwks_url",
        "profile",
        "token_types",
        "required_claims",
        "role_claims",
        "scope_claims",
        "tenants",
    }
)

CommaSeparated = Annotated[tuple[str, ...], NoDecode]
Accepted = str | int | float | bool | list[str | int | float | bool]


class SettingsError(Exception):
    """The environment holds a setting the service cannot start with."""


def split_commas(value: str) -> tuple[str, ...]:
    """Split `a, b,c` into `("a", "b", "c")`, dropping empty items."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _listed(value: Any) -> Any:
    return split_commas(value) if isinstance(value, str) else value


def _listed_or_default(value: Any) -> Any:
    """A comma-separated list; blank means the profile's default (None), not an empty list."""
    if isinstance(value, str):
        return split_commas(value) or None
    return value


def _issuer_url(value: str) -> str:
    problem = rules.issuer_problem(value.replace(TENANT_PLACEHOLDER, "tenant"))
    if problem:
        raise ValueError(problem)
    return value


def _optional_url(value: Any) -> Any:
    if value in (None, ""):
        return None
    return check_url(value) if isinstance(value, str) else value


def _audience_list(value: Any) -> Any:
    """A comma-separated audience list, checked by the rule the generation answers follow."""
    items = (value,) if isinstance(value, str) else value
    if isinstance(items, list | tuple):
        problems = [problem for item in items for problem in rules.audience_problems(str(item))]
        if problems:
            raise ValueError("; ".join(problems))
    return rules.split_list(value) if isinstance(value, str) else value


def _algorithm_list(value: Any) -> Any:
    """A comma-separated algorithm allow-list, checked by the generation answers' rule."""
    if isinstance(value, str):
        problems = rules.algorithms_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return rules.split_list(value)
    return value


def _algorithms(value: tuple[str, ...]) -> tuple[str, ...]:
    problems = [problem for name in value if (problem := rules.algorithm_problem(name))]
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _profile(value: str) -> str:
    get_profile(value)  # raises ValueError naming the known profiles
    return value


class _IssuerFieldChecks:
    """The checks of the fields an issuer entry and the single-issuer settings share."""

    _split = field_validator("token_types", "tenants", mode="before")(_listed)
    _split_claims = field_validator("role_claims", "scope_claims", mode="before")(
        _listed_or_default
    )
    _audience = field_validator("audience", mode="before")(_audience_list)
    _algorithm_list = field_validator("algorithms", mode="before")(_algorithm_list)
    _algorithms = field_validator("algorithms")(_algorithms)
    _issuer = field_validator("issuer")(_issuer_url)
    _jwks_url = field_validator("jwks_url", mode="before")(_optional_url)
    _profile = field_validator("profile")(_profile)


class IssuerSettings(_IssuerFieldChecks, BaseModel):
    """One trusted issuer: where its keys are and what its tokens must look like."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    """`iss`, exactly as tokens carry it; Entra multi-tenant: a `{tenantid}` template."""
    audience: tuple[str, ...] = ()
    """Accepted audiences; empty: not checked."""
    algorithms: tuple[str, ...] = ()
    """The allow-list; empty: the profile's algorithms."""
    jwks_url: str | None = None
    """Where the keys are; None: OpenID discovery, then `<issuer>/.well-known/jwks.json`."""
    profile: str = "generic"
    """Provider defaults: where roles and scopes live, how access tokens are told apart."""
    token_types: tuple[str, ...] | None = None
    """Accepted JOSE `typ` header values; None: the profile's, empty: not checked."""
    required_claims: dict[str, Accepted] = Field(default_factory=dict)
    """Claim -> required value, or list of accepted values."""
    role_claims: tuple[str, ...] | None = None
    """Claim paths holding roles; None: the profile's."""
    scope_claims: tuple[str, ...] | None = None
    """Claims holding scopes; None: the profile's."""
    tenants: tuple[str, ...] = ()
    """The tenant ids a `{tenantid}` issuer template accepts."""

    @model_validator(mode="after")
    def _check_profile_rules(self) -> IssuerSettings:
        self.claim_rules()  # raises ValueError for an unknown profile or inconsistent rules
        if TENANT_PLACEHOLDER in self.issuer and self.jwks_url is None:
            raise ValueError(
                f"the issuer template {self.issuer!r} cannot be discovered: set jwks_url "
                "(Entra ID: https://login.microsoftonline.com/common/discovery/v2.0/keys)"
            )
        return self

    @property
    def allowed_algorithms(self) -> tuple[str, ...]:
        """The configured algorithms, or the profile's when none are configured."""
        return self.algorithms or get_profile(self.profile).default_algorithms

    def claim_rules(self, resource: str | None = None) -> ClaimRules:
        """The profile's claim policy with this entry's overrides; `resource` is also an audience."""
        return ClaimRules.from_profile(
            get_profile(self.profile),
            issuer=self.issuer,
            audiences=self.audience,
            tenants=self.tenants,
            role_claims=self.role_claims,
            scope_claims=self.scope_claims,
            token_types=self.token_types,
            required_claims=self.required_claims,
            resource=resource,
        )


class AuthSettings(_IssuerFieldChecks, BaseSettings):
    """Every `AUTH_*` variable: one issuer (`AUTH_ISSUER`, ...) or several (`AUTH_ISSUERS`)."""

    model_config = SettingsConfigDict(
        env_prefix="AUTH_", env_file=".env", extra="ignore", frozen=True
    )

    issuer: str = DEFAULT_ISSUER
    audience: CommaSeparated = Field(default=DEFAULT_AUDIENCE, validate_default=True)
    algorithms: CommaSeparated = Field(default=DEFAULT_ALGORITHMS, validate_default=True)
    jwks_url: str | None = None
    profile: str = DEFAULT_PROFILE
    token_types: Annotated[tuple[str, ...] | None, NoDecode] = None
    required_claims: dict[str, Accepted] = Field(default_factory=dict)
    role_claims: Annotated[tuple[str, ...] | None, NoDecode] = None
    scope_claims: Annotated[tuple[str, ...] | None, NoDecode] = None
    tenants: CommaSeparated = ()
    issuers: tuple[IssuerSettings, ...] = ()
    """`AUTH_ISSUERS`: a JSON array of issuer entries, in place of the single-issuer variables."""

    leeway: float = Field(default=30.0, ge=0, le=300)
    jwks_cache_ttl: float = Field(default=300.0, gt=0)
    jwks_cache_min_ttl: float = Field(default=60.0, gt=0)
    jwks_cache_max_ttl: float = Field(default=86400.0, gt=0)
    jwks_max_stale: float = Field(default=86400.0, ge=0)
    refresh_cooldown: float = Field(default=5.0, gt=0)
    http_timeout: float = Field(default=5.0, gt=0, le=60)
    max_token_bytes: int = Field(default=8192, ge=512)
    verified_cache_size: int = Field(default=4096, ge=0)
    verified_cache_ttl: float = Field(default=60.0, ge=0)
    exclude_paths: CommaSeparated = ("/schema",)
    realm: str = DEFAULT_REALM
    resource: str | None = None
    """`AUTH_RESOURCE`: this service's URI; set, it is published (RFC 9728) and required in `aud`."""
    resource_name: str = Field(default=DEFAULT_RESOURCE_NAME, min_length=1, max_length=200)
    """The human-readable name the protected resource metadata gives this service."""

    dpop: Literal["allowed", "required", "off"] = "allowed"
    """`allowed`: DPoP-bound tokens need proofs, others work as bearer tokens; `required`: every
    token needs a proof; `off`: the DPoP scheme is not offered (bound tokens are still refused)."""
    dpop_algorithms: CommaSeparated = Field(
        default=",".join(rules.SUPPORTED_ALGORITHMS), validate_default=True
    )
    dpop_max_age: float = Field(default=60.0, gt=0, le=3600)
    """Seconds a proof is accepted after its `iat` (and kept in the replay cache)."""
    dpop_replay_cache_size: int = Field(default=65536, ge=1)
    dpop_nonce: bool = False
    dpop_nonce_secret: SecretStr | None = None
    """The key nonces are derived with: the same on every worker and replica."""
    dpop_nonce_lifetime: float = Field(default=300.0, ge=10, le=86400)
    public_url: str | None = None
    """The service's root URL as clients call it: what DPoP proofs must name (`htu`)."""
    client_cert_header: str | None = None
    """The header a TLS-terminating proxy puts the verified client certificate in (RFC 8705)."""

    _split_prefixes = field_validator("exclude_paths", mode="before")(_listed)
    _dpop_algorithm_list = field_validator("dpop_algorithms", mode="before")(_algorithm_list)
    _dpop_algorithms = field_validator("dpop_algorithms")(_algorithms)

    @field_validator("public_url", mode="before")
    @classmethod
    def _check_public_url(cls, value: Any) -> Any:
        value = _optional_url(value)
        if isinstance(value, str):
            if "?" in value or "#" in value:
                raise ValueError(f"{value!r} has a ?query or #fragment: give the root URL only")
            return value.rstrip("/")
        return value

    @field_validator("client_cert_header", mode="before")
    @classmethod
    def _check_header_name(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not HEADER_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a header name such as X-SSL-Client-Cert "
                "or X-Forwarded-Client-Cert"
            )
        return value.lower()

    @model_validator(mode="after")
    def _check_nonce_secret(self) -> AuthSettings:
        secret = self.dpop_nonce_secret
        if self.dpop_nonce and (
            secret is None or len(secret.get_secret_value()) < MIN_NONCE_SECRET_LENGTH
        ):
            raise ValueError(
                f"AUTH_DPOP_NONCE=true needs AUTH_DPOP_NONCE_SECRET of at least "
                f"{MIN_NONCE_SECRET_LENGTH} characters, the same on every worker and replica "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        return self

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

    @field_validator("resource", mode="before")
    @classmethod
    def _check_resource(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        return check_resource(value) if isinstance(value, str) else value

    @field_validator("realm")
    @classmethod
    def _check_realm(cls, value: str) -> str:
        if not REALM.fullmatch(value):
            raise ValueError(
                "the realm goes into the WWW-Authenticate header: use 1 to 64 printable ASCII "
                'characters without quotes or backslashes, such as "my-service"'
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_way_to_name_issuers(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("issuers"):
            both = sorted(f"AUTH_{name.upper()}" for name in ISSUER_FIELDS & values.keys())
            if both:
                raise ValueError(
                    f"AUTH_ISSUERS is set, so {', '.join(both)} must be unset: "
                    "give these fields in each AUTH_ISSUERS entry instead"
                )
        return values

    @model_validator(mode="after")
    def _check_cache_bounds(self) -> AuthSettings:
        if self.jwks_cache_min_ttl > self.jwks_cache_max_ttl:
            raise ValueError(
                f"AUTH_JWKS_CACHE_MIN_TTL ({self.jwks_cache_min_ttl:g}) is above "
                f"AUTH_JWKS_CACHE_MAX_TTL ({self.jwks_cache_max_ttl:g})"
            )
        return self

    @model_validator(mode="after")
    def _check_issuer_entries(self) -> AuthSettings:
        entries = self.issuer_entries()
        names = [entry.issuer for entry in entries]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"AUTH_ISSUERS names {', '.join(duplicates)} more than once")
        return self

    def issuer_entries(self) -> tuple[IssuerSettings, ...]:
        """The trusted issuers: the `AUTH_ISSUERS` entries, or the one the `AUTH_*` fields name."""
        if self.issuers:
            return self.issuers
        fields = {name: getattr(self, name) for name in ISSUER_FIELDS}
        try:
            return (IssuerSettings(**fields),)
        except ValidationError as exc:  # the fields passed their own checks: a rule spans several
            raise ValueError(
                "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
            ) from None

    def for_issuer(self, entry: IssuerSettings) -> AuthSettings:
        """These settings narrowed to one issuer: what its key set and `doctor` work with."""
        return self.model_copy(
            update={
                "issuer": entry.issuer,
                "audience": entry.audience,
                "algorithms": entry.allowed_algorithms,
                "jwks_url": entry.jwks_url,
                "issuers": (),
            }
        )

    def exclusion_patterns(self) -> tuple[str, ...]:
        """`exclude_paths` as anchored patterns that match whole path segments only."""
        return tuple(f"^{re.escape(prefix.rstrip('/'))}(?:/|$)" for prefix in self.exclude_paths)


def load_auth_settings() -> AuthSettings:
    """Read the `AUTH_*` settings, turning validation errors into one readable paragraph."""
    try:
        return AuthSettings()
    except ValidationError as exc:
        raise SettingsError(describe(exc, "AUTH_")) from None
    except pydantic_settings.SettingsError as exc:  # a JSON-valued variable that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"AUTH_{field.group(1).upper()}" if field else "An AUTH_* variable"
        raise SettingsError(
            f"Invalid configuration: {name} is not valid JSON ({exc.__cause__}). Fix the "
            "environment variable (or the .env file) and start again."
        ) from None


def describe(error: ValidationError, prefix: str) -> str:
    """Name each bad variable, its value and what is wrong, in one paragraph."""
    problems = []
    for item in error.errors():
        location = item["loc"]
        if not location:
            problems.append(item["msg"].removeprefix("Value error, "))
            continue
        name = f"{prefix}{str(location[0]).upper()}"
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in location[1:]
        )
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{name}{where}={_shown(item['input'])}: {message}")
    return (
        "Invalid configuration: "
        + "; ".join(problems)
        + ". Fix the environment variable (or the .env file) and start again."
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
