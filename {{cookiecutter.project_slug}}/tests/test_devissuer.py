"""The development issuer: key files, its JWKS, minted tokens, and where it is (not) mounted."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, Final

import pytest
from jose import jwt
from litestar.testing import AsyncTestClient

from {{ cookiecutter.package_name }} import devissuer
from {{ cookiecutter.package_name }}.app import app as default_app
from {{ cookiecutter.package_name }}.auth import IssuerRegistry, TokenVerifier
from {{ cookiecutter.package_name }}.devissuer import (
    DEV_ALGORITHMS,
    ISSUER_PATH,
    DevKeys,
    DevKeysError,
    create_dev_app,
    issuer_router,
    issuer_url,
    key_directory,
    mint_token,
)

from .conftest import AUDIENCE, ISSUER, IssuerStub, auth_settings, build_app

if TYPE_CHECKING:
    from pathlib import Path

    from litestar import Litestar

KEY_FILES: Final = ("rsa.pem", "ec-p256.pem", "ed25519.pem")
FAMILIES: Final = ("rsa", "ec", "okp")
PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
READ_ONLY_METHODS: Final = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """Development keys generated once for this module."""
    return DevKeys.load_or_create(tmp_path_factory.mktemp("dev-keys"))


def family_of(algorithm: str) -> str:
    """The key family `DevKeys` signs `algorithm` with."""
    return {"RS": "rsa", "PS": "rsa", "ES": "ec", "Ed": "okp"}[algorithm[:2]]


def mode(path: Path) -> int:
    """The permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


def service_paths(app: Litestar) -> set[str]:
    """The app's route paths, the OpenAPI schema's left out."""
    return {route.path for route in app.routes if not route.path.startswith("/schema")}


class TestKeyFiles:
    """`DevKeys.load_or_create`: private keys on disk, made once."""

    def test_creates_three_private_keys_readable_by_the_owner_only(self, tmp_path: Path) -> None:
        """A new directory gets one PKCS #8 PEM per family, mode 0600, in a directory of mode 0700."""
        directory = tmp_path / ".dev-issuer"
        DevKeys.load_or_create(directory)
        assert sorted(path.name for path in directory.iterdir()) == sorted(
            [".gitignore", *KEY_FILES]
        )
        assert mode(directory) == 0o700
        for name in KEY_FILES:
            assert mode(directory / name) == 0o600
            assert (directory / name).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")

    def test_gitignore_ignores_everything(self, tmp_path: Path) -> None:
        """The directory's `.gitignore` holds `*`, so the keys are never committed."""
        DevKeys.load_or_create(tmp_path)
        assert "*" in (tmp_path / ".gitignore").read_text().splitlines()

    def test_second_call_reads_the_same_keys(self, tmp_path: Path) -> None:
        """Keys survive restarts: a second call returns the same keys and key ids."""
        first = DevKeys.load_or_create(tmp_path)
        second = DevKeys.load_or_create(tmp_path)
        assert second.pems == first.pems
        assert [second.kid(family) for family in FAMILIES] == [
            first.kid(family) for family in FAMILIES
        ]

    def test_deleted_key_is_regenerated_with_a_new_kid(self, tmp_path: Path) -> None:
        """A deleted PEM is generated anew, with a new kid; the other keys stay."""
        first = DevKeys.load_or_create(tmp_path)
        (tmp_path / "rsa.pem").unlink()
        second = DevKeys.load_or_create(tmp_path)
        assert second.kid("rsa") != first.kid("rsa")
        assert second.pems["rsa"] != first.pems["rsa"]
        assert mode(tmp_path / "rsa.pem") == 0o600
        assert (second.kid("ec"), second.kid("okp")) == (first.kid("ec"), first.kid("okp"))

    def test_kid_names_the_family(self, dev_keys: DevKeys) -> None:
        """Each kid reads `dev-<family>-<12 hex digits>`."""
        for family in FAMILIES:
            prefix, _, digest = dev_keys.kid(family).rpartition("-")
            assert prefix == f"dev-{family}"
            assert len(digest) == 12
            assert int(digest, 16) >= 0


class TestJWKS:
    """`DevKeys.jwks()`: the public document the dev issuer serves."""

    def test_only_public_members(self, dev_keys: DevKeys) -> None:
        """No key of the JWKS carries a private member (`d`, RSA primes...)."""
        for key in dev_keys.jwks()["keys"]:
            assert "d" not in key
            assert not key.keys() & PRIVATE_MEMBERS

    def test_one_signing_key_per_family(self, dev_keys: DevKeys) -> None:
        """One RSA, one P-256 and one Ed25519 key, each `use: sig` with its kid and no `alg`."""
        keys = dev_keys.jwks()["keys"]
        assert [(key["kty"], key.get("crv")) for key in keys] == [
            ("RSA", None),
            ("EC", "P-256"),
            ("OKP", "Ed25519"),
        ]
        assert [key["kid"] for key in keys] == [dev_keys.kid(family) for family in FAMILIES]
        assert all(key["use"] == "sig" and "alg" not in key for key in keys)


class TestMintToken:
    """`mint_token`: tokens the service accepts, for every algorithm the dev issuer signs."""

    @pytest.mark.parametrize("algorithm", DEV_ALGORITHMS)
    async def test_token_is_accepted_by_the_verifier(
        self, dev_keys: DevKeys, algorithm: str
    ) -> None:
        """A minted token verifies against the dev JWKS, with its subject, scopes and audience."""
        token = mint_token(
            dev_keys,
            issuer=ISSUER,
            subject="alice",
            scopes=("read", "write"),
            audience=(AUDIENCE,),
            algorithm=algorithm,
        )
        settings = auth_settings()
        issuer = IssuerStub(dev_keys.jwks()["keys"])
        async with IssuerRegistry.from_settings(settings, transport=issuer.transport) as issuers:
            principal = await TokenVerifier(settings, issuers).verify(token)
        assert principal.subject == "alice"
        assert principal.scopes == {"read", "write"}
        assert principal.claims["aud"] == AUDIENCE
        assert principal.claims["iss"] == ISSUER
        header = jwt.get_unverified_header(token)
        assert (header["alg"], header["kid"]) == (algorithm, dev_keys.kid(family_of(algorithm)))

    def test_lifetime_sets_the_expiry(self, dev_keys: DevKeys) -> None:
        """`exp` is `lifetime` seconds after `iat`."""
        token = mint_token(dev_keys, issuer=ISSUER, subject="alice", lifetime=90)
        claims = jwt.get_unverified_claims(token)
        assert claims["exp"] - claims["iat"] == 90

    def test_several_audiences_become_a_list(self, dev_keys: DevKeys) -> None:
        """Two audiences are written as a JSON list, one as a string."""
        token = mint_token(dev_keys, issuer=ISSUER, subject="alice", audience=("a", "b"))
        assert jwt.get_unverified_claims(token)["aud"] == ["a", "b"]

    def test_no_scopes_and_no_audience_leave_the_claims_out(self, dev_keys: DevKeys) -> None:
        """Without scopes or audience the token has no `scope` or `aud` claim at all."""
        claims = jwt.get_unverified_claims(mint_token(dev_keys, issuer=ISSUER, subject="alice"))
        assert set(claims) == {"iss", "sub", "iat", "exp"}


class TestIssuerURL:
    """`issuer_url`: the URL clients reach the dev issuer at."""

    @pytest.mark.parametrize(
        ("host", "url"),
        [
            ("127.0.0.1", "http://127.0.0.1:8000/dev-issuer"),
            ("localhost", "http://localhost:8000/dev-issuer"),
            ("0.0.0.0", "http://127.0.0.1:8000/dev-issuer"),  # noqa: S104 - the input under test
            ("::", "http://127.0.0.1:8000/dev-issuer"),
            ("", "http://127.0.0.1:8000/dev-issuer"),
            ("::1", "http://[::1]:8000/dev-issuer"),
        ],
    )
    def test_url_for_host(self, host: str, url: str) -> None:
        """Bind-all addresses map to 127.0.0.1 and IPv6 hosts are bracketed."""
        assert issuer_url(host, 8000) == url

    def test_port_is_kept(self) -> None:
        """The port is part of the URL."""
        assert issuer_url("127.0.0.1", 9123) == "http://127.0.0.1:9123/dev-issuer"


class TestIssuerRoutes:
    """The two read-only documents the dev issuer serves."""

    async def test_discovery_and_jwks_documents(self, stub: IssuerStub, dev_keys: DevKeys) -> None:
        """Discovery names the issuer and its JWKS URL; the JWKS is `DevKeys.jwks()`; no token needed."""
        issuer = issuer_url("127.0.0.1", 8000)
        app = build_app(stub, route_handlers=[issuer_router(issuer, dev_keys)])
        async with AsyncTestClient(app) as client:
            discovery = await client.get(f"{ISSUER_PATH}/.well-known/openid-configuration")
            jwks = await client.get(f"{ISSUER_PATH}/.well-known/jwks.json")
        assert discovery.status_code == 200
        assert discovery.json() == {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": list(DEV_ALGORITHMS),
        }
        assert jwks.status_code == 200
        assert jwks.json() == dev_keys.jwks()


class TestKeyPrivacy:
    """Keys that others could read are refused, with the command that fixes them."""

    @pytest.mark.parametrize("directory_mode", [0o777, 0o755, 0o750, 0o701])
    def test_directory_open_to_others_is_refused(self, tmp_path: Path, directory_mode: int) -> None:
        """A pre-existing key folder with group or other bits is refused, naming `chmod 700`."""
        directory = tmp_path / ".dev-issuer"
        directory.mkdir()
        directory.chmod(directory_mode)
        with pytest.raises(
            DevKeysError, match=rf"mode {directory_mode:o}.*`chmod 700 {directory}`"
        ):
            DevKeys.load_or_create(directory)
        assert not (directory / "rsa.pem").exists()

    @pytest.mark.parametrize("file_mode", [0o644, 0o640, 0o606])
    def test_key_file_open_to_others_is_refused(self, tmp_path: Path, file_mode: int) -> None:
        """A key file with group or other bits is refused, naming `chmod 600` and the file."""
        DevKeys.load_or_create(tmp_path)
        (tmp_path / "ec-p256.pem").chmod(file_mode)
        with pytest.raises(DevKeysError, match=rf"`chmod 600 {tmp_path / 'ec-p256.pem'}`"):
            DevKeys.load_or_create(tmp_path)

    def test_private_folder_and_files_are_accepted(self, tmp_path: Path) -> None:
        """Owner-only folder (0700) and files (0600) load."""
        tmp_path.chmod(0o700)
        assert DevKeys.load_or_create(tmp_path).pems.keys() == set(FAMILIES)


class TestKeyDirectory:
    """The keys belong to the project, wherever a command runs."""

    def test_found_beside_the_nearest_pyproject(self, tmp_path: Path) -> None:
        """From a subfolder, the folder beside the project's `pyproject.toml` is used."""
        (tmp_path / "pyproject.toml").write_text("[project]\n")
        nested = tmp_path / "src" / "deep"
        nested.mkdir(parents=True)
        assert key_directory(nested) == tmp_path.resolve() / ".dev-issuer"

    def test_working_directory_without_a_project(self, tmp_path: Path) -> None:
        """Outside any project, the working folder is used."""
        assert key_directory(tmp_path) == tmp_path.resolve() / ".dev-issuer"


class TestCreateDevApp:
    """`create_dev_app` starts only as `dev` starts it."""

    @pytest.fixture(autouse=True)
    def in_tmp_path(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Run in `tmp_path`, so that keys land there and no `.env` is read."""
        monkeypatch.chdir(tmp_path)

    def test_refuses_without_the_dev_marker(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without `AUTH_DEV_ISSUER` it exits, even with a dev issuer URL, and makes no keys."""
        monkeypatch.setenv("AUTH_ISSUER", issuer_url("127.0.0.1", 8000))
        with pytest.raises(SystemExit, match="started by the `dev` command only"):
            create_dev_app()
        assert not (tmp_path / ".dev-issuer").exists()

    def test_refuses_another_issuer(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With `AUTH_DEV_ISSUER` but an issuer outside the dev path, it exits and makes no keys."""
        monkeypatch.setenv("AUTH_DEV_ISSUER", "1")
        monkeypatch.setenv("AUTH_ISSUER", ISSUER)
        with pytest.raises(SystemExit, match="started by the `dev` command only"):
            create_dev_app()
        assert not (tmp_path / ".dev-issuer").exists()

    def test_keys_open_to_others_exit_with_the_fix(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A key folder readable by others ends `dev` with the explanation, not a traceback."""
        (tmp_path / ".dev-issuer").mkdir(mode=0o777)
        (tmp_path / ".dev-issuer").chmod(0o777)
        monkeypatch.setenv("AUTH_DEV_ISSUER", "1")
        monkeypatch.setenv("AUTH_ISSUER", issuer_url("127.0.0.1", 8000))
        with pytest.raises(SystemExit, match=r"open to other users .*`chmod 700"):
            create_dev_app()

    def test_bad_setting_exits_with_its_explanation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An invalid setting ends it with the settings paragraph, not a traceback."""
        monkeypatch.setenv("AUTH_DEV_ISSUER", "1")
        monkeypatch.setenv("AUTH_ISSUER", "http://issuer.test/dev-issuer")
        with pytest.raises(SystemExit, match=r"^Invalid configuration: AUTH_ISSUER="):
            create_dev_app()

    @pytest.mark.usefixtures("restore_logging")
    def test_mounts_the_issuer_when_started_by_dev(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """As `dev` starts it, it mounts the two documents, makes keys and warns on stderr."""
        monkeypatch.setenv("AUTH_DEV_ISSUER", "1")
        monkeypatch.setenv("AUTH_ISSUER", issuer_url("127.0.0.1", 8000))
        app = create_dev_app()
        assert service_paths(app) - service_paths(default_app) == {
            f"{ISSUER_PATH}/.well-known/openid-configuration",
            f"{ISSUER_PATH}/.well-known/jwks.json",
        }
        assert sorted(path.name for path in (tmp_path / ".dev-issuer").iterdir()) == sorted(
            [".gitignore", *KEY_FILES]
        )
        err = capsys.readouterr().err
        (warning,) = [line for line in err.splitlines() if "DEVELOPMENT ISSUER ACTIVE" in line]
        assert " WARNING " in warning


class TestDefaultApp:
    """The app `serve` runs carries nothing of the dev issuer."""

    def test_default_app_has_no_dev_issuer_route(self, stub: IssuerStub) -> None:
        """`create_app()` and the module's `app` serve nothing under `/dev-issuer`."""
        for app in (build_app(stub), default_app):
            assert not any(path.startswith(ISSUER_PATH) for path in service_paths(app))
            assert service_paths(app) >= {"/health", "/ready", "/protected"}

    def test_default_app_has_no_route_of_the_dev_issuer_module(self, stub: IssuerStub) -> None:
        """No handler of the default app comes from `devissuer`: nothing there can sign a token."""
        for app in (build_app(stub), default_app):
            for route in app.routes:
                for handler in getattr(route, "route_handlers", ()):
                    assert handler.fn.__module__ != devissuer.__name__, route.path

    @pytest.mark.usefixtures("restore_logging")
    def test_dev_issuer_routes_are_read_only(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """What `dev` adds answers GET (and HEAD, OPTIONS) only: no request issues a token."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("AUTH_DEV_ISSUER", "1")
        monkeypatch.setenv("AUTH_ISSUER", issuer_url("127.0.0.1", 8000))
        for route in create_dev_app().routes:
            if route.path.startswith(ISSUER_PATH):
                assert set(route.methods) <= READ_ONLY_METHODS, route.path
