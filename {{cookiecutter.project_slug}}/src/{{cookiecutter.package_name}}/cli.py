"""Command line: `serve`, `dev`, `token`, `proof` and `doctor`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import click
import uvicorn

from . import server
from .auth import SettingsError, load_auth_settings
from .server import DEFAULT_HEAD_TIMEOUT, HEAD_TIMEOUT_VARIABLE, Http
from .settings import load_service_settings

__all__ = ("main",)

PACKAGE = __name__.rpartition(".")[0]
HAS_MCP_SERVER = find_spec(f"{PACKAGE}.mcp_server") is not None
# The dev issuer stands in for every configured one, with the generic profile's rules:
# an empty claims list means the profile's own.
DEV_ISSUER_ENVIRONMENT = {
    "AUTH_DEV_ISSUER": "1",
    "AUTH_ISSUERS": "[]",
    "AUTH_JWKS_URL": "",
    "AUTH_PROFILE": "generic",
    "AUTH_TOKEN_TYPES": "",
    "AUTH_REQUIRED_CLAIMS": "{}",
    "AUTH_ROLE_CLAIMS": "",
    "AUTH_SCOPE_CLAIMS": "",
    "AUTH_TENANTS": "",
}


def main() -> None:
    """Entry point: run the command; a bad setting ends it with one paragraph, not a traceback."""
    try:
        cli()
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Run the service, or check its issuer, from the command line."""


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (0.0.0.0 in a container).",
)
@click.option(
    "--port", default=8000, show_default=True, envvar="PORT", help="Port to bind.", show_envvar=True
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes, each with its own key cache; /metrics merges theirs.",
)
@click.option(
    "--http",
    type=click.Choice(["auto", "httptools", "h11"]),
    default="auto",
    show_default=True,
    envvar="SERVE_HTTP",
    show_envvar=True,
    help="HTTP stack: auto = uvloop+httptools where installed, h11 = asyncio+h11 (pure Python).",
)
@click.option(
    "--head-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_HEAD_TIMEOUT,
    show_default=True,
    envvar=HEAD_TIMEOUT_VARIABLE,
    show_envvar=True,
    help="Seconds a client has to send a request's head before its connection is closed.",
)
@click.option(
    "--limit-concurrency",
    type=click.IntRange(min=1),
    default=None,
    envvar="SERVE_LIMIT_CONCURRENCY",
    show_envvar=True,
    help="Per worker: answer 503 while this many connections or requests are open (default: no limit).",
)
def serve(
    *,
    host: str,
    port: int,
    workers: int,
    http: Http,
    head_timeout: float,
    limit_concurrency: int | None,
) -> None:
    """Run the service against the configured issuer (production)."""
    from .logs import configure_logging

    load_auth_settings()
    service = load_service_settings()
    configure_logging(service.log_format, service.log_level)
    with contextlib.ExitStack() as cleanup:
        if workers > 1 and service.metrics_path and service.metrics_dir is None:
            # The workers merge their metrics through it; it goes when `serve` ends.
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="metrics-"))
            os.environ["METRICS_DIR"] = folder
        try:
            server.run(
                f"{PACKAGE}.app:app",
                host=host,
                port=port,
                workers=workers,
                http=http,
                head_timeout=head_timeout,
                limit_concurrency=limit_concurrency,
            )
        except server.StackUnavailable as exc:
            raise click.UsageError(str(exc)) from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=8000, show_default=True, envvar="PORT", help="Port to bind.", show_envvar=True
)
@click.option(
    "--reload/--no-reload", default=True, show_default=True, help="Restart on code changes."
)
def dev(*, host: str, port: int, reload: bool) -> None:
    """Run the service with the embedded development issuer in place of the configured one."""
    from .devissuer import issuer_url

    os.environ.update(DEV_ISSUER_ENVIRONMENT)
    os.environ["AUTH_ISSUER"] = issuer_url(host, port)
    resource = dev_resource(host, port)
    if resource:
        os.environ["AUTH_RESOURCE"] = resource
    load_auth_settings()
    uvicorn.run(
        f"{PACKAGE}.devissuer:create_dev_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        reload_dirs=[os.path.dirname(__file__)] if reload else None,
    )


@cli.command()
@click.option("--subject", "--sub", default="dev-user", show_default=True, help="The `sub` claim.")
@click.option("--scope", "scopes", multiple=True, help="A scope to grant; repeat for several.")
@click.option("--role", "roles", multiple=True, help="A role (`roles` claim); repeat for several.")
@click.option(
    "--audience",
    "audiences",
    multiple=True,
    help="`aud` (default: the resource `dev` serves, else AUTH_AUDIENCE).",
)
@click.option(
    "--lifetime", default=3600, show_default=True, help="Seconds until the token expires."
)
@click.option(
    "--algorithm", "--alg", default=None, help="Signature algorithm (default: the first allowed)."
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Host the `dev` service runs on."
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    envvar="PORT",
    help="Port the `dev` service runs on.",
    show_envvar=True,
)
@click.option(
    "--dpop-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Bind the token to this DPoP key (cnf.jkt); the key file is created if missing.",
)
def token(
    *,
    subject: str,
    scopes: tuple[str, ...],
    roles: tuple[str, ...],
    audiences: tuple[str, ...],
    lifetime: int,
    algorithm: str | None,
    host: str,
    port: int,
    dpop_key: Path | None,
) -> None:
    """Print a token that the running `dev` service accepts."""
    from .devissuer import DEV_ALGORITHMS, DevKeys, DevKeysError, DPoPKey, issuer_url, mint_token

    settings = load_auth_settings()
    usable = [name for name in settings.algorithms if name in DEV_ALGORITHMS]
    algorithm = algorithm or (usable[0] if usable else "")
    if algorithm not in usable:
        raise click.UsageError(
            f"--algorithm {algorithm or '(none)'} is not one the dev issuer signs with and "
            f"AUTH_ALGORITHMS allows; choose one of: {', '.join(usable) or '(none)'}"
        )
    try:
        keys = DevKeys.load_or_create()
        thumbprint = DPoPKey.load_or_create(dpop_key).thumbprint if dpop_key else None
    except DevKeysError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        mint_token(
            keys,
            issuer=issuer_url(host, port),
            subject=subject,
            scopes=scopes,
            roles=roles,
            audience=audiences or default_audience(settings.audience, dev_resource(host, port)),
            lifetime=lifetime,
            algorithm=algorithm,
            dpop_thumbprint=thumbprint,
        )
    )


def default_audience(audience: tuple[str, ...], resource: str | None) -> tuple[str, ...]:
    """What `token` puts in `aud`: the resource the `dev` service is, or else the audiences."""
    return (resource,) if resource else audience


def dev_resource(host: str, port: int) -> str | None:
    """`AUTH_RESOURCE` under `dev`: as set (empty: none), else the MCP endpoint's URL if any."""
    from .devissuer import ISSUER_PATH, issuer_url

    if "AUTH_RESOURCE" in os.environ or not HAS_MCP_SERVER:
        return os.environ.get("AUTH_RESOURCE") or None
    return issuer_url(host, port).removesuffix(ISSUER_PATH) + "/mcp"


@cli.command()
@click.option(
    "--dpop-key",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The DPoP key file (as given to `token --dpop-key`); created if missing.",
)
@click.option("--method", "-X", default="GET", show_default=True, help="The request's method.")
@click.option("--token", "access_token", default=None, help="The access token sent with it (ath).")
@click.option("--nonce", default=None, help="The server's DPoP-Nonce, if it asked for one.")
@click.argument("url")
def proof(
    *, dpop_key: Path, method: str, access_token: str | None, nonce: str | None, url: str
) -> None:
    """Print a DPoP proof for METHOD URL, for the `DPoP` header."""
    from .devissuer import DevKeysError, DPoPKey

    try:
        key = DPoPKey.load_or_create(dpop_key)
    except DevKeysError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(key.proof(method, url, access_token, nonce))


@cli.command()
@click.option(
    "--token",
    "token",
    default=None,
    help="Check this token as the service would and name every reason it would be refused.",
)
def doctor(*, token: str | None) -> None:
    """Check every configured issuer for real and explain what would make tokens fail."""
    from .doctor import diagnose
    from .explain import explain_token

    settings = load_auth_settings()
    if token is not None:
        reports = [asyncio.run(explain_token(settings, token))]
    else:
        reports = [
            asyncio.run(diagnose(settings.for_issuer(entry))) for entry in settings.issuer_entries()
        ]
    for report in reports:
        for line in report.lines:
            click.echo(line)
    sys.exit(0 if all(report.ok for report in reports) else 1)
