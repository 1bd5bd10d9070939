"""Provider profiles: where issuers put roles, scopes and audiences, and how they mark access tokens.

A `Profile` holds only defaults. `ClaimRules.from_profile` applies the settings' overrides once
per issuer and precomputes everything, so the checks on each fresh token are a few lookups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from .errors import InvalidToken
from .resource import canonical_uri
from .rules import SUPPORTED_ALGORITHMS

__all__ = (
    "ANY_STRING",
    "PROFILES",
    "TENANT_PLACEHOLDER",
    "Accepted",
    "ClaimRules",
    "Profile",
    "get_profile",
    "same_media_type",
    "tenant_issuer_matches",
    "validate_issuer",
)

TENANT_PLACEHOLDER: Final = "{tenantid}"
CLIENT_PLACEHOLDER: Final = "<client>"


class _AnyString:
    """The accepted value of a claim that must be present as a string, whatever the string."""

    def __repr__(self) -> str:
        return "ANY_STRING"


ANY_STRING: Final = _AnyString()

Scalar = str | int | float | bool
Accepted = Scalar | Sequence[Scalar] | _AnyString
"""What a required or marker claim may hold: one value, a list of values, or `ANY_STRING`."""

SCALARS: Final = frozenset({str, int, float, bool})
# (type, value) pairs keep comparisons type-strict: 1, 1.0, True and "1" are four values.
_Values = frozenset[tuple[type, Scalar]] | None  # None: any string


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """The defaults of one kind of issuer; every field can be overridden by the settings."""

    name: str
    """The value of the profile setting."""
    role_claims: tuple[str, ...] = ("roles",)
    """Claim paths holding roles: dot-separated, `<client>` standing for each configured client."""
    scope_claims: tuple[str, ...] = ("scope", "scp")
    """Claims holding scopes: a space-separated string or a list of strings."""
    audience_claims: tuple[str, ...] = ("aud",)
    """Claims naming the audience; the first one the token carries must name a configured one."""
    token_types: tuple[str, ...] = ()
    """Accepted JOSE header `typ` values (media types); empty: `typ` is not checked."""
    access_token_claims: Mapping[str, Accepted] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Claims that mark an access token (claim -> accepted values): ID tokens lack them."""
    issuer_aliases: tuple[str, ...] = ()
    """Other spellings of the issuer that tokens carry in `iss`."""
    requires_audience: bool = False
    """Refuse a configuration without audiences: any of the provider's clients could be let in."""
    default_algorithms: tuple[str, ...] = ("RS256",)
    """The signature algorithms the provider uses unless configured otherwise."""
    issuer_example: str = "https://issuer.example.com"
    """The shape of the provider's `iss`, for prompts and docs."""
    audience_hint: str = "the API identifier your issuer puts in `aud`"
    """What to configure as the audience, for prompts and docs."""
    notes: str = ""
    """What the defaults rely on, and the provider's settings that they expect."""


PROFILES: Final[Mapping[str, Profile]] = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            Profile(
                name="generic",
                default_algorithms=SUPPORTED_ALGORITHMS,
                notes=(
                    "Checks no token type unless token_types is set; set it to `at+jwt` for an "
                    "RFC 9068 issuer so that its ID tokens are refused."
                ),
            ),
            Profile(
                name="zuplo",
                default_algorithms=("EdDSA",),
                issuer_example="https://<deployment>/__zuplo/issuer",
                audience_hint="the audience your Zuplo policy sets (default: the upstream URL)",
                notes=(
                    "The JWT service plugin marks no token type and adds scopes or roles only "
                    "through additional claims; pin the account and project with "
                    "required_claims where tokens carry them."
                ),
            ),
            Profile(
                name="auth0",
                role_claims=("permissions",),
                scope_claims=("scope",),
                token_types=("at+jwt",),
                issuer_example="https://<tenant>.<region>.auth0.com/",
                audience_hint="the API identifier (Dashboard > Applications > APIs)",
                notes=(
                    "Expects the API's token profile set to RFC 9068 (typ at+jwt). With the "
                    "default Auth0 profile, access and ID tokens both say typ JWT: set "
                    "token_types to JWT, and the audience (an API identifier, never a client "
                    "id) alone keeps ID tokens out. Roles are RBAC permissions; `iss` ends "
                    "with a slash."
                ),
            ),
            Profile(
                name="keycloak",
                role_claims=("realm_access.roles", "resource_access.<client>.roles"),
                scope_claims=("scope",),
                access_token_claims=MappingProxyType({"typ": "Bearer"}),
                issuer_example="https://<host>/realms/<realm>",
                audience_hint="the client id, added to `aud` by an audience mapper",
                notes=(
                    "Access tokens carry the claim typ Bearer, ID tokens typ ID. Keycloak puts "
                    "the client in `azp`; `aud` needs an audience mapper on the client scope."
                ),
            ),
            Profile(
                name="okta",
                role_claims=("groups",),
                scope_claims=("scp",),
                access_token_claims=MappingProxyType({"cid": ANY_STRING}),
                issuer_example="https://<org>.okta.com/oauth2/<server>",
                audience_hint="the authorization server's audience (e.g. api://default)",
                notes=(
                    "For a custom authorization server: its access tokens carry `cid` (the "
                    "client) and no header typ; ID tokens carry no `cid`. The org "
                    "authorization server's tokens (typ application/okta-internal-at+jwt) are "
                    "for Okta's own APIs only. `scp` is a list; `groups` needs a groups claim."
                ),
            ),
            Profile(
                name="entra",
                scope_claims=("scp",),
                access_token_claims=MappingProxyType({"azpacr": ("0", "1", "2")}),
                issuer_example="https://login.microsoftonline.com/<tenant>/v2.0",
                audience_hint="the API's application (client) id",
                notes=(
                    "v2.0 access tokens only (the API's manifest requestedAccessTokenVersion "
                    "2): they carry `azpacr`, which v2.0 ID tokens lack; both say typ JWT. "
                    "Roles are app roles; delegated scopes are in `scp`. Several tenants: "
                    "issuer https://login.microsoftonline.com/{tenantid}/v2.0 with an "
                    "explicit tenant allow-list."
                ),
            ),
            Profile(
                name="cognito",
                role_claims=("cognito:groups",),
                scope_claims=("scope",),
                audience_claims=("aud", "client_id"),
                access_token_claims=MappingProxyType({"token_use": "access"}),
                issuer_example="https://cognito-idp.<region>.amazonaws.com/<user-pool-id>",
                audience_hint="the app client id",
                notes=(
                    "Access tokens have no `aud`: the app client id is in `client_id`. "
                    "token_use is `access` (ID tokens: `id`)."
                ),
            ),
            Profile(
                name="google",
                role_claims=(),
                scope_claims=(),
                issuer_aliases=("accounts.google.com",),
                requires_audience=True,
                issuer_example="https://accounts.google.com",
                audience_hint="your OAuth client id (....apps.googleusercontent.com)",
                notes=(
                    "Google's access tokens are opaque, so this profile accepts Google ID "
                    "tokens whose `aud` is your client id (an audience is required). `iss` "
                    "is https://accounts.google.com or accounts.google.com. No scopes or "
                    "roles; pin a Workspace domain with required_claims {hd: ...}."
                ),
            ),
        )
    }
)


def get_profile(name: str) -> Profile:
    """The profile called `name`.

    Raises:
        ValueError: no such profile (the message lists the known ones).
    """
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown provider profile {name!r}; choose one of: {known}") from None


def same_media_type(a: str, b: str) -> bool:
    """Whether two JOSE `typ` values name the same media type (RFC 7515 section 4.1.9).

    `application/` is implied when absent and case does not matter (RFC 8725 section 3.11):
    `at+jwt`, `application/at+jwt` and `Application/AT+JWT` are one type.
    """
    first, second = _media_type(a), _media_type(b)
    return first is not None and first == second


def tenant_issuer_matches(
    template: str, iss: object, claims: Mapping[str, object], tenants: frozenset[str]
) -> bool:
    """Whether `iss` is `template` filled with the token's own `tid`, an allowed tenant."""
    prefix, _, suffix = template.partition(TENANT_PLACEHOLDER)
    tenant = claims.get("tid")
    return (
        type(tenant) is str
        and tenant in tenants
        and type(iss) is str
        and iss == prefix + tenant + suffix
    )


def validate_issuer(issuer: str, tenants: Sequence[str] = ()) -> None:
    """Check an issuer and its tenant allow-list, for the settings to report before startup.

    Raises:
        ValueError: a `{tenantid}` template without tenants (which would mean any tenant),
            tenants without a template, a malformed template or tenant id.
    """
    placeholders = issuer.count(TENANT_PLACEHOLDER)
    if placeholders == 0:
        if tenants:
            raise ValueError(
                f"tenants are listed but the issuer {issuer!r} has no {TENANT_PLACEHOLDER}: "
                "list tenants only with an issuer template"
            )
        return
    if placeholders > 1:
        raise ValueError(f"the issuer template {issuer!r} has {TENANT_PLACEHOLDER} twice")
    if not tenants:
        raise ValueError(
            f"the issuer template {issuer!r} needs an explicit list of allowed tenant ids: "
            "an empty list would accept tokens from any tenant"
        )
    for tenant in tenants:
        # A tenant id is one path segment of the issuer URL.
        if not tenant or not tenant.isascii() or any(c in tenant for c in "/{} ?#"):
            raise ValueError(f"{tenant!r} is not a tenant id")


@dataclass(frozen=True, slots=True)
class _RolePath:
    name: str
    """The whole path as one claim name: Auth0's namespaced claims are URLs with dots."""
    segments: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRules:
    """The claim policy of one issuer: its profile with the settings' overrides, precomputed."""

    issuers: frozenset[str]
    """Exact `iss` values accepted (the issuer and its aliases); empty with a tenant template."""
    issuer_template: str | None
    tenants: frozenset[str]
    audiences: frozenset[str]
    """Accepted audiences, compared exactly; empty (and no `resources`): not checked."""
    resources: frozenset[str] = frozenset()
    """This service's resource URIs (RFC 8707) in canonical form, also accepted as audiences."""
    audience_claims: tuple[str, ...]
    token_types: frozenset[str]
    """Normalized media types (`application/at+jwt`); empty: `typ` is not checked."""
    access_token_claims: tuple[tuple[str, _Values], ...]
    required_claims: tuple[tuple[str, _Values], ...]
    role_paths: tuple[_RolePath, ...]
    scope_claims: tuple[str, ...]

    @classmethod
    def from_profile(
        cls,
        profile: Profile,
        *,
        issuer: str,
        audiences: Sequence[str] = (),
        clients: Sequence[str] | None = None,
        tenants: Sequence[str] = (),
        role_claims: Sequence[str] | None = None,
        scope_claims: Sequence[str] | None = None,
        audience_claims: Sequence[str] | None = None,
        token_types: Sequence[str] | None = None,
        access_token_claims: Mapping[str, Accepted] | None = None,
        required_claims: Mapping[str, Accepted] | None = None,
        resource: str | None = None,
    ) -> ClaimRules:
        """The rules for `issuer`: each argument left as None takes the profile's default.

        `clients` replace `<client>` in role paths (default: the audiences). `resource`, this
        service's URI, is accepted in `aud` besides the audiences, compared in canonical form.

        Raises:
            ValueError: an invalid setting (the message says which and why).
        """
        validate_issuer(issuer, tenants)
        canonical_resource = canonical_uri(resource) if resource else None
        if resource and canonical_resource is None:
            raise ValueError(f"the resource {resource!r} is not an http(s) URI")
        if profile.requires_audience and not audiences and not resource:
            raise ValueError(
                f"the {profile.name} profile needs an audience ({profile.audience_hint}): "
                "without one, tokens issued to any client would be accepted"
            )
        template = issuer if TENANT_PLACEHOLDER in issuer else None
        issuers = frozenset() if template else frozenset((issuer, *profile.issuer_aliases))
        chosen_audience_claims = _names(
            "audience claim",
            profile.audience_claims if audience_claims is None else audience_claims,
        )
        if (audiences or resource) and not chosen_audience_claims:
            raise ValueError("audiences are configured but no claim is named to carry them")
        types = profile.token_types if token_types is None else token_types
        return cls(
            issuers=issuers,
            issuer_template=template,
            tenants=frozenset(tenants),
            audiences=frozenset(_names("audience", audiences)),
            resources=frozenset(filter(None, (canonical_resource,))),
            audience_claims=chosen_audience_claims,
            token_types=frozenset(_checked_media_type(value) for value in types),
            access_token_claims=_rules(
                profile.access_token_claims if access_token_claims is None else access_token_claims
            ),
            required_claims=_rules(required_claims or {}),
            role_paths=_role_paths(
                profile.role_claims if role_claims is None else role_claims,
                audiences if clients is None else clients,
            ),
            scope_claims=_names(
                "scope claim", profile.scope_claims if scope_claims is None else scope_claims
            ),
        )

    def check_header(self, header: Mapping[str, object]) -> None:
        """Refuse a token whose JOSE `typ` is not an accepted type.

        Raises:
            InvalidToken: `wrong_token_type`.
        """
        if self.token_types and _media_type(header.get("typ")) not in self.token_types:
            raise InvalidToken("wrong_token_type")

    def check_claims(self, claims: Mapping[str, object]) -> None:
        """Refuse claims from another issuer, of another kind of token or for another audience.

        Raises:
            InvalidToken: `wrong_issuer`, `tenant_not_allowed`, `not_an_access_token`,
                `wrong_audience` or `required_claim_mismatch`.
        """
        iss = claims.get("iss")
        if self.issuer_template is None:
            if type(iss) is not str or iss not in self.issuers:
                raise InvalidToken("wrong_issuer")
        elif not tenant_issuer_matches(self.issuer_template, iss, claims, self.tenants):
            tenant = claims.get("tid")
            raise InvalidToken(
                "tenant_not_allowed"
                if type(tenant) is str and tenant not in self.tenants
                else "wrong_issuer"
            )
        for name, values in self.access_token_claims:
            if not _matches(claims, name, values):
                raise InvalidToken("not_an_access_token")
        if (self.audiences or self.resources) and not self._audience_matches(claims):
            raise InvalidToken("wrong_audience")
        for name, values in self.required_claims:
            if not _matches(claims, name, values):
                raise InvalidToken("required_claim_mismatch")

    def check(self, header: Mapping[str, object], claims: Mapping[str, object]) -> None:
        """`check_header`, then `check_claims`."""
        self.check_header(header)
        self.check_claims(claims)

    def roles(self, claims: Mapping[str, object]) -> frozenset[str]:
        """Every role found at the role paths; values of any other shape are ignored."""
        found: set[str] = set()
        for path in self.role_paths:
            value = claims.get(path.name, _MISSING)
            if value is _MISSING and len(path.segments) > 1:
                value = _walk(claims, path.segments)
            if value is not None:
                _collect(value, found)
        found.discard("")
        return frozenset(found)

    def scopes(self, claims: Mapping[str, object]) -> frozenset[str]:
        """Every scope in the scope claims (RFC 6749 section 3.3: separated by U+0020 only)."""
        found: set[str] = set()
        for name in self.scope_claims:
            value = claims.get(name)
            if value is not None:
                _collect(value, found)
        found.discard("")
        return frozenset(found)

    def _audience_matches(self, claims: Mapping[str, object]) -> bool:
        for name in self.audience_claims:
            value = claims.get(name, _MISSING)
            if value is _MISSING:
                continue
            if type(value) is str:
                return self._accepts(value)
            return type(value) is list and any(
                type(item) is str and self._accepts(item) for item in value
            )
        return False

    def _accepts(self, audience: str) -> bool:
        return audience in self.audiences or (
            bool(self.resources) and canonical_uri(audience) in self.resources
        )


_MISSING: Final = object()


def _walk(claims: Mapping[str, object], segments: tuple[str, ...]) -> object:
    """The value at a path of claim names, None when the path crosses anything but an object."""
    value: object = claims
    for segment in segments:
        if type(value) is not dict:
            return None
        value = value.get(segment)
    return value


def _collect(value: object, into: set[str]) -> None:
    """Add the strings of a space-separated string or a list of strings; ignore other shapes.

    Empty strings are added too: the caller discards them once.
    """
    if type(value) is str:
        into.update(value.split(" "))
    elif type(value) is list:
        into.update(item for item in value if type(item) is str)


def _matches(claims: Mapping[str, object], name: str, values: _Values) -> bool:
    value = claims.get(name, _MISSING)
    if values is None:
        return type(value) is str
    return type(value) in SCALARS and (type(value), value) in values


def _media_type(value: object) -> str | None:
    """A `typ` as a lower-case media type, None unless an ASCII string.

    Non-ASCII is refused because `str.lower` folds it into ASCII (the Kelvin sign becomes `k`).
    """
    if type(value) is not str or not value.isascii():
        return None
    lowered = value.lower()
    return lowered if "/" in lowered else "application/" + lowered


def _checked_media_type(value: str) -> str:
    normalized = _media_type(value)
    if normalized is None or not value or value.endswith("/"):
        raise ValueError(f"{value!r} is not a media type for the JOSE typ header")
    return normalized


def _names(what: str, names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        raise ValueError(f"{what}s must be a list, not the string {names!r}")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{name!r} is not a valid {what}")
    return tuple(dict.fromkeys(names))


def _rules(rules: Mapping[str, Accepted]) -> tuple[tuple[str, _Values], ...]:
    return tuple((name, _values(name, accepted)) for name, accepted in rules.items())


def _values(name: str, accepted: Accepted) -> _Values:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{name!r} is not a claim name")
    if isinstance(accepted, _AnyString):
        return None
    candidates: Sequence[object] = (
        (accepted,) if isinstance(accepted, str | int | float | bool) else accepted
    )
    if not isinstance(candidates, list | tuple) or not candidates:
        raise ValueError(f"claim {name!r}: give a value or a non-empty list of values")
    values: set[tuple[type, Scalar]] = set()
    for value in candidates:
        # Exact types only: a subclass (an IntEnum, a str subclass) is never a JSON value.
        if not isinstance(value, str | int | float | bool) or type(value) not in SCALARS:
            raise ValueError(f"claim {name!r}: {value!r} is not a string, number or boolean value")
        values.add((type(value), value))
    return frozenset(values)


def _role_paths(paths: Sequence[str], clients: Sequence[str]) -> tuple[_RolePath, ...]:
    expanded: list[_RolePath] = []
    for path in _names("role claim", paths):
        segments = path.split(".")
        if not all(segments):
            raise ValueError(f"role claim {path!r} has an empty segment")
        if CLIENT_PLACEHOLDER not in segments:
            expanded.append(_RolePath(path, tuple(segments)))
            continue
        # A client id stays one segment even when it contains dots.
        for client in _names("client", clients):
            expanded.append(
                _RolePath(
                    path.replace(CLIENT_PLACEHOLDER, client),
                    tuple(client if s == CLIENT_PLACEHOLDER else s for s in segments),
                )
            )
    return tuple(expanded)
