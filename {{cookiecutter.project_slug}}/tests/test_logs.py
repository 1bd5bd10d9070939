"""Logging: the two formats, `configure_logging`, and the access line of every request."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import pytest
from litestar import get
from litestar.params import FromPath  # noqa: TC002  # Litestar reads handler annotations at runtime
from litestar.testing import AsyncTestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.logs import (
    MAX_FIXED_PARTS,
    POOLED_IDS,
    AccessLog,
    ConsoleFormatter,
    JSONFormatter,
    RandomIds,
    configure_logging,
    new_request_id,
)
from {{ cookiecutter.package_name }}.settings import ServiceSettings

from .conftest import auth_settings, bearer, claims

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar import Litestar

    from {{ cookiecutter.package_name }}.observability import Observation

    from .conftest import AccessLines, IssuerStub, Keyring

GENERATED_ID: Final = re.compile(r"[0-9a-f]{32}")
ACCESS_FIELDS: Final = {"request_id", "method", "path", "route", "status", "duration_ms"}


class Refusal(NamedTuple):
    """A request the service refuses, and what its access record must say."""

    path: str
    token: Callable[[Keyring], str | None]
    status: int
    reason: str


REFUSALS: Final[dict[str, Refusal]] = {
    "missing": Refusal("/protected", lambda _: None, 401, "no_authorization_header"),
    "malformed": Refusal("/protected", lambda _: "not-a-jwt", 401, "malformed"),
    "expired": Refusal("/protected", lambda k: k.token(exp=1_000_000), 401, "expired"),
    "wrong-audience": Refusal(
        "/protected", lambda k: k.token(aud="https://other.test"), 401, "wrong_audience"
    ),
    "forged": Refusal(
        "/protected",
        lambda k: k.impostor_for("RS256").sign(claims(), "RS256"),
        401,
        "bad_signature",
    ),
    "insufficient-scope": Refusal(
        "/admin", lambda k: k.token(scope="read"), 403, "insufficient_scope"
    ),
}


def record(
    message: str,
    *args: object,
    fields: dict[str, Any] | None = None,
    exc_info: bool = False,
) -> logging.LogRecord:
    """A WARNING record of logger `svc.test`, with `fields` as `extra` when given."""
    return logging.getLogger("svc.test").makeRecord(
        "svc.test",
        logging.WARNING,
        __file__,
        1,
        message,
        args,
        sys.exc_info() if exc_info else None,
        extra=None if fields is None else {"fields": fields},
    )


@get("/items/{item_id:int}", exclude_from_auth=True, sync_to_thread=False)
def item(item_id: FromPath[int]) -> dict[str, int]:
    """A route with a path parameter, so that its path and its route template differ."""
    return {"item": item_id}


def service_app(stub: IssuerStub, **service: Any) -> Litestar:
    """The real app on the stub issuer, with these `ServiceSettings` (and none from `.env`)."""
    return create_app(
        auth_settings(),
        service=ServiceSettings(_env_file=None, **{"log_format": "json", **service}),
        jwks_transport=stub.transport,
        route_handlers=[item],
    )


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, DEBUG and above."""
    caplog.set_level(logging.DEBUG)
    return caplog


class TestJSONFormatter:
    """`LOG_FORMAT=json`: one JSON object per line."""

    def test_one_object_with_time_level_logger_message_and_fields(self) -> None:
        """A record becomes one JSON object: time, level, logger, message, then its `fields`."""
        line = JSONFormatter().format(
            record("token refused for %s", "alice", fields={"status": 401, "route": "/admin"})
        )
        entry = json.loads(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", entry.pop("time"))
        assert entry == {
            "level": "WARNING",
            "logger": "svc.test",
            "message": "token refused for alice",
            "status": 401,
            "route": "/admin",
        }

    def test_record_without_fields(self) -> None:
        """A record without `fields` has exactly the four standard members."""
        entry = json.loads(JSONFormatter().format(record("plain")))
        assert set(entry) == {"time", "level", "logger", "message"}

    def test_newlines_stay_inside_one_line(self) -> None:
        """A message or field holding newlines still makes a single line, which cannot forge another."""
        line = JSONFormatter().format(
            record("first\nsecond", fields={"path": '/x\n{"level": "ERROR"}'})
        )
        assert "\n" not in line
        assert json.loads(line)["message"] == "first\nsecond"

    def test_exception_is_included(self) -> None:
        """A record with an exception carries its traceback in `exception`, on the same line."""
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            line = JSONFormatter().format(record("failed", exc_info=True))
        assert "\n" not in line
        exception = json.loads(line)["exception"]
        assert exception.startswith("Traceback")
        assert "RuntimeError: boom" in exception

    def test_values_json_cannot_encode_become_strings(self) -> None:
        """A field JSON has no type for is written as its `str()`, not dropped or fatal."""
        line = JSONFormatter().format(record("saved", fields={"file": Path("keys", "rsa.pem")}))
        assert json.loads(line)["file"] == str(Path("keys", "rsa.pem"))


class TestConsoleFormatter:
    """`LOG_FORMAT=console`: readable lines with `key=value` pairs."""

    def test_fields_are_appended_as_key_value(self) -> None:
        """The `fields` follow the message as `key=value`, in order."""
        line = ConsoleFormatter().format(
            record("GET %s %d", "/admin", 403, fields={"status": 403, "route": "/admin"})
        )
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING svc\.test: GET /admin 403 "
            r"status=403 route=/admin",
            line,
        )

    def test_values_with_spaces_or_newlines_are_quoted(self) -> None:
        """A value that could split into two pairs or two lines is written as a JSON string."""
        line = ConsoleFormatter().format(record("saved", fields={"path": "/a b\nc", "n": 1}))
        assert line.endswith(' saved path="/a b\\nc" n=1')

    def test_record_without_fields_is_the_plain_line(self) -> None:
        """Without `fields` the line ends with the message."""
        assert ConsoleFormatter().format(record("plain")).endswith(" WARNING svc.test: plain")


def observation(path: str = "/health", reason: str | None = None) -> Observation:
    """A noted request: answered at 12:00:00.250 local time, 1.234 ms, status 200."""
    ended = time.mktime((2026, 12, 1, 12, 0, 0, 0, 0, -1)) + 0.25
    return (ended, "rid-1", "GET", path, "/health", 200, 0.001234, reason)


class CountingStream(io.StringIO):
    """A text stream that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


class BrokenStream(io.StringIO):
    """A stream whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


class TestAccessLogLines:
    """`AccessLog`: the lines it writes for a batch of noted requests."""

    def test_console_line(self) -> None:
        """Time to the millisecond, level, logger, message, then every field as key=value."""
        stream = io.StringIO()
        AccessLog("console", stream)([observation(reason="expired")])
        assert stream.getvalue() == (
            "2026-12-01 12:00:00,250 INFO    access: GET /health 200 request_id=rid-1 "
            "method=GET path=/health route=/health status=200 duration_ms=1.23 "
            "auth_failure=expired\n"
        )

    def test_console_lines_past_the_remembered_parts(self) -> None:
        """Lines sharing their fixed parts keep their own id and duration, however many paths."""
        ended = observation()[0]
        batch: list[Observation] = [
            (
                ended,
                f"rid-{n}",
                "GET",
                f"/items/{n % (MAX_FIXED_PARTS + 5)}",
                "/items/{n}",
                200,
                n / 1000,
                None,
            )
            for n in range(2 * MAX_FIXED_PARTS + 10)
        ]
        stream = io.StringIO()
        AccessLog("console", stream)(batch)
        lines = stream.getvalue().splitlines()
        assert len(lines) == len(batch)
        for line, (_, rid, _, path, _, _, seconds, _) in zip(lines, batch, strict=True):
            assert f": GET {path} 200 request_id={rid} method=GET path={path} " in line
            assert line.endswith(f" duration_ms={seconds * 1000:.2f}")

    def test_json_line(self) -> None:
        """One JSON object with the members of `JSONFormatter`'s records, then the fields."""
        stream = io.StringIO()
        AccessLog("json", stream)([observation()])
        (line,) = stream.getvalue().splitlines()
        entry = json.loads(line)
        assert re.fullmatch(r"2026-12-01T12:00:00[+-]\d{4}", entry.pop("time"))
        assert entry == {
            "level": "INFO",
            "logger": "access",
            "message": "GET /health 200",
            "request_id": "rid-1",
            "method": "GET",
            "path": "/health",
            "route": "/health",
            "status": 200,
            "duration_ms": 1.23,
        }

    @pytest.mark.parametrize("log_format", ["console", "json"])
    def test_a_path_cannot_forge_a_line(self, log_format: str) -> None:
        """A decoded path holding a newline (`%0A`) or spaces stays inside its own line."""
        forged = "/x\n2026-12-01 12:00:00,000 INFO    access: GET /admin 200"
        stream = io.StringIO()
        AccessLog(log_format, stream)([observation(path=forged), observation()])
        lines = stream.getvalue().splitlines()
        assert len(lines) == 2
        if log_format == "console":
            assert f"path={json.dumps(forged)} " in lines[0]
        else:
            assert json.loads(lines[0])["path"] == forged

    def test_json_line_with_a_lone_surrogate(self) -> None:
        """A string UTF-8 cannot encode is escaped rather than losing the batch."""
        stream = io.StringIO()
        AccessLog("json", stream)([observation(path="/x\udc80"), observation()])
        first, second = stream.getvalue().splitlines()
        assert json.loads(first)["path"] == "/x\udc80"
        assert json.loads(second)["path"] == "/health"

    def test_one_write_per_batch(self) -> None:
        """A batch of lines costs one `write`, however many requests it holds."""
        stream = CountingStream()
        AccessLog("console", stream)([observation()] * 100)
        assert (stream.writes, len(stream.getvalue().splitlines())) == (1, 100)

    def test_a_failing_stream_warns_instead_of_raising(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A closed pipe loses that batch with a warning; the caller (the flush) goes on."""
        AccessLog("json", BrokenStream())([observation()] * 3)
        (warning,) = caplog.records
        assert warning.getMessage() == "3 access lines could not be written: [Errno 32] Broken pipe"

    def test_silent_when_the_access_logger_is_above_info(self) -> None:
        """`LOG_LEVEL=WARNING` (or the `access` logger's own level) silences the lines."""
        stream = io.StringIO()
        access = logging.getLogger("access")
        level = access.level
        access.setLevel(logging.WARNING)
        try:
            AccessLog("console", stream)([observation()])
        finally:
            access.setLevel(level)
        assert stream.getvalue() == ""


@pytest.mark.usefixtures("restore_logging")
class TestConfigureLogging:
    """`configure_logging`: every logger through one root handler in the chosen format."""

    @pytest.mark.parametrize(
        ("log_format", "formatter"), [("json", JSONFormatter), ("console", ConsoleFormatter)]
    )
    def test_one_root_handler_in_the_chosen_format(
        self,
        log_format: str,
        formatter: type[logging.Formatter],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The root logger ends up with exactly one handler, which writes in `log_format` to stderr."""
        logging.getLogger().addHandler(logging.NullHandler())
        configure_logging(log_format, "INFO")
        (handler,) = logging.getLogger().handlers
        assert type(handler.formatter) is formatter
        logging.getLogger("svc.test").info("hello", extra={"fields": {"n": 1}})
        line = capsys.readouterr().err.removesuffix("\n")
        if log_format == "json":
            assert json.loads(line)["message"] == "hello"
        else:
            assert line.endswith(" INFO    svc.test: hello n=1")

    def test_configuring_twice_keeps_one_handler(self) -> None:
        """Configuring again replaces the handler rather than adding one (no doubled lines)."""
        configure_logging("console", "INFO")
        configure_logging("json", "INFO")
        (handler,) = logging.getLogger().handlers
        assert isinstance(handler.formatter, JSONFormatter)

    def test_level_applies_to_every_logger(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Records below the chosen level are dropped."""
        configure_logging("json", "WARNING")
        assert logging.getLogger().level == logging.WARNING
        logging.getLogger("svc.test").info("dropped")
        logging.getLogger("svc.test").warning("kept")
        lines = capsys.readouterr().err.splitlines()
        assert [json.loads(line)["message"] for line in lines] == ["kept"]

    def test_uvicorn_goes_through_the_root_handler_and_its_access_log_is_off(self) -> None:
        """uvicorn's loggers lose their own handlers and propagate; `uvicorn.access` is disabled."""
        for name in ("uvicorn", "uvicorn.error"):
            logging.getLogger(name).addHandler(logging.NullHandler())
            logging.getLogger(name).propagate = False
        logging.getLogger("uvicorn.access").disabled = False
        configure_logging("console", "INFO")
        for name in ("uvicorn", "uvicorn.error"):
            assert logging.getLogger(name).handlers == []
            assert logging.getLogger(name).propagate is True
        assert logging.getLogger("uvicorn.access").disabled is True

    def test_httpx_requests_are_not_logged_at_info(self) -> None:
        """httpx logs every JWKS request at INFO; it is raised to WARNING."""
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        configure_logging("console", "DEBUG")
        assert logging.getLogger("httpx").level == logging.WARNING


class TestAccessLog:
    """The access log through the real app: one record per request."""

    async def test_one_record_per_request(
        self, stub: IssuerStub, keyring: Keyring, access_log: AccessLines
    ) -> None:
        """Each request gets one access record with its id, method, path, route, status and latency."""
        async with AsyncTestClient(service_app(stub)) as client:
            await client.get("/health")
            await client.get("/items/7")
            await client.get("/protected", headers=bearer(keyring.token()))
        entries = access_log.fields()
        assert [set(entry) for entry in entries] == [ACCESS_FIELDS] * 3
        assert [
            (entry["method"], entry["path"], entry["route"], entry["status"]) for entry in entries
        ] == [
            ("GET", "/health", "/health", 200),
            ("GET", "/items/7", "/items/{item_id}", 200),
            ("GET", "/protected", "/protected", 200),
        ]
        assert all(entry["duration_ms"] >= 0 for entry in entries)

    async def test_record_message_names_method_path_and_status(
        self, stub: IssuerStub, access_log: AccessLines
    ) -> None:
        """The access line's message reads `METHOD path status`, at level INFO."""
        async with AsyncTestClient(service_app(stub)) as client:
            await client.get("/health")
        (entry,) = access_log.entries()
        assert (entry["message"], entry["level"]) == ("GET /health 200", "INFO")

    @pytest.mark.parametrize(
        "request_id",
        ["abc-123", "trace:4bf92f35.span_00f0", "x" * 128],
        ids=["plain", "punctuation", "128"],
    )
    async def test_plain_caller_request_id_is_kept_and_echoed(
        self, stub: IssuerStub, access_log: AccessLines, request_id: str
    ) -> None:
        """A short, plain `X-Request-ID` from the caller is logged and returned as is."""
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/health", headers={"X-Request-ID": request_id})
        assert response.headers["X-Request-ID"] == request_id
        assert [entry["request_id"] for entry in access_log.fields()] == [request_id]

    @pytest.mark.parametrize(
        "request_id",
        [
            b"has spaces",
            b"line\nbreak",
            b"cr\rlf",
            b"tab\tbed",
            b"\xc3\xa9t\xc3\xa9",
            b"",
            b"x" * 129,
            b"y" * 200,
        ],
        ids=["spaces", "newline", "carriage-return", "tab", "non-ascii", "empty", "129", "200"],
    )
    async def test_unsafe_caller_request_id_is_replaced(
        self, stub: IssuerStub, access_log: AccessLines, request_id: bytes
    ) -> None:
        """An `X-Request-ID` that is long or not plain is replaced by a generated hex id."""
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/health", headers={b"X-Request-ID": request_id})
        echoed = response.headers["X-Request-ID"]
        assert GENERATED_ID.fullmatch(echoed)
        assert [entry["request_id"] for entry in access_log.fields()] == [echoed]

    async def test_generated_request_ids_differ(
        self, stub: IssuerStub, access_log: AccessLines
    ) -> None:
        """Without `X-Request-ID` every request gets a new generated id, echoed in the response."""
        async with AsyncTestClient(service_app(stub)) as client:
            echoed = [(await client.get("/health")).headers["X-Request-ID"] for _ in range(2)]
        assert all(GENERATED_ID.fullmatch(request_id) for request_id in echoed)
        assert echoed[0] != echoed[1]
        assert [entry["request_id"] for entry in access_log.fields()] == echoed

    def test_generated_ids_stay_distinct_past_a_pool(self) -> None:
        """Ids cut from one `os.urandom` pool and from the next ones are all different."""
        ids = RandomIds()
        drawn = [ids() for _ in range(3 * POOLED_IDS + 1)]
        assert all(GENERATED_ID.fullmatch(request_id) for request_id in drawn)
        assert len(set(drawn)) == len(drawn)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform does not fork")
    def test_a_forked_child_draws_ids_of_its_own(self) -> None:
        """After a fork, the child does not hand out the ids its parent's pool holds next."""
        new_request_id()  # the pool exists, with ids still to come
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            os.write(writer, new_request_id().encode())
            os._exit(0)
        os.close(writer)
        os.waitpid(child, 0)
        with os.fdopen(reader) as pipe:
            assert pipe.read() != new_request_id()

    @pytest.mark.parametrize("case", REFUSALS)
    async def test_refusal_is_logged_with_its_reason_and_never_the_token(
        self,
        stub: IssuerStub,
        keyring: Keyring,
        logs: pytest.LogCaptureFixture,
        access_log: AccessLines,
        case: str,
    ) -> None:
        """A refused request's access record has its status and `auth_failure`; no record holds the token."""
        path, make_token, status, reason = REFUSALS[case]
        token = make_token(keyring)
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get(path, headers=bearer(token) if token else {})
        assert response.status_code == status
        (entry,) = access_log.fields()
        assert (entry["status"], entry["auth_failure"]) == (status, reason)
        assert entry["request_id"] == response.headers["X-Request-ID"]
        if token:
            secrets = {token, token.rpartition(".")[2]}
            for item in logs.records:
                logged = f"{item.getMessage()} {vars(item)}"
                assert not any(secret in logged for secret in secrets), item.name
            assert not any(secret in logs.text for secret in secrets)
            assert not any(secret in access_log.text for secret in secrets)

    async def test_issuer_outage_is_logged_as_503_with_its_reason(
        self, stub: IssuerStub, keyring: Keyring, access_log: AccessLines
    ) -> None:
        """Without keys, the access record shows the 503 and `keys_unavailable`."""
        stub.fault = "down"
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/protected", headers=bearer(keyring.token()))
        assert response.status_code == 503
        (entry,) = access_log.fields()
        assert (entry["status"], entry["auth_failure"]) == (503, "keys_unavailable")

    async def test_accepted_request_has_no_auth_failure(
        self, stub: IssuerStub, keyring: Keyring, access_log: AccessLines
    ) -> None:
        """An accepted request's access record has no `auth_failure`."""
        async with AsyncTestClient(service_app(stub)) as client:
            await client.get("/admin", headers=bearer(keyring.token(scope="admin")))
        (entry,) = access_log.fields()
        assert entry["status"] == 200
        assert "auth_failure" not in entry

    async def test_access_log_can_be_turned_off(
        self,
        stub: IssuerStub,
        logs: pytest.LogCaptureFixture,
        access_log: AccessLines,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """With `ACCESS_LOG=false` requests are not logged and get no `X-Request-ID`."""
        monkeypatch.setenv("ACCESS_LOG", "false")
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/health")
            await client.get("/protected")
        assert response.status_code == 200
        assert "X-Request-ID" not in response.headers
        assert access_log.fields() == []
        assert logs.records, "other records are still captured"
