"""Every HTTP answer is logged and counted, whatever the request held: 404, 405, 500, odd hosts."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Final

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.observability import FLUSH_SECONDS, UNMATCHED

from .conftest import service_app

if TYPE_CHECKING:
    from .conftest import AccessLines, IssuerStub, Keyring

ODD_HOSTS: Final = [b"x:65536", b"x:-1", b"[::1]:x", b"[::1", b"x:99999999999999999999"]


def requests_total(text: str, **labels: str) -> float:
    """The `http_requests_total` sample with `labels` in Prometheus text (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == "http_requests_total" and labels.items() <= item.labels.items():
                return item.value
    return 0.0


class TestUnroutedAnswers:
    """Answers Litestar gives outside any route's middleware."""

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [("GET", "/no/such/path", 404), ("POST", "/health", 405), ("BREW", "/health", 405)],
        ids=["404", "405", "unknown-method"],
    )
    async def test_logged_with_an_id_and_counted_under_one_route(
        self, stub: IssuerStub, access_log: AccessLines, method: str, path: str, status: int
    ) -> None:
        """A 404 or 405 gets its access line and request id, and counts under the unmatched route."""
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.request(method, path)
            metrics = (await client.get("/metrics")).text
        assert response.status_code == status
        entry = access_log.fields()[0]
        assert (entry["method"], entry["path"], entry["route"], entry["status"]) == (
            method,
            path,
            UNMATCHED,
            status,
        )
        assert entry["request_id"] == response.headers["X-Request-ID"]
        label = method if method != "BREW" else "OTHER"
        assert requests_total(metrics, method=label, path=UNMATCHED, status_code=str(status)) == 1

    async def test_raw_paths_never_become_labels(self, stub: IssuerStub) -> None:
        """Many unknown paths make one series, and no path of theirs appears in `/metrics`."""
        async with AsyncTestClient(service_app(stub)) as client:
            for number in range(20):
                assert (await client.get(f"/probe-{number}")).status_code == 404
            metrics = (await client.get("/metrics")).text
        assert "probe-" not in metrics
        assert requests_total(metrics, path=UNMATCHED, status_code="404") == 20

    async def test_unexpected_exception_is_a_logged_and_counted_500(
        self, stub: IssuerStub, access_log: AccessLines
    ) -> None:
        """A route that raises answers 500, logged and counted as an error."""
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/broken")
            metrics = (await client.get("/metrics")).text
        assert response.status_code == 500
        assert access_log.fields()[0]["status"] == 500
        assert "X-Request-ID" in response.headers
        assert "/broken" in metrics
        assert requests_total(metrics, path="/broken", status_code="500") == 1


class TestOddHostHeaders:
    """A `Host` header no URL can be built from changes nothing about a refusal."""

    @pytest.mark.parametrize("host", ODD_HOSTS)
    async def test_missing_token_is_still_a_401_with_its_challenge(
        self, stub: IssuerStub, access_log: AccessLines, host: bytes
    ) -> None:
        """The middleware's refusal stays a 401 with `WWW-Authenticate`, logged and counted."""
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/protected", headers={b"Host": host})
            metrics = (await client.get("/metrics")).text
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
        assert access_log.fields()[0]["auth_failure"] == "no_authorization_header"
        assert 'auth_refusals_total{reason="no_authorization_header",status="401"} 1.0' in metrics

    @pytest.mark.parametrize("host", ODD_HOSTS)
    async def test_missing_scope_is_still_a_403_with_its_challenge(
        self, stub: IssuerStub, keyring: Keyring, access_log: AccessLines, host: bytes
    ) -> None:
        """The guard's refusal stays a 403 with `insufficient_scope`, logged and counted."""
        headers = {
            b"Host": host,
            b"Authorization": f"Bearer {keyring.token(scope='read')}".encode(),
        }
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/admin", headers=headers)
            metrics = (await client.get("/metrics")).text
        assert response.status_code == 403
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
        assert access_log.fields()[0]["auth_failure"] == "insufficient_scope"
        assert 'auth_refusals_total{reason="insufficient_scope",status="403"} 1.0' in metrics

    @pytest.mark.parametrize("host", ODD_HOSTS)
    async def test_not_found_is_still_a_404(self, stub: IssuerStub, host: bytes) -> None:
        """An unknown path with an odd host is a plain 404."""
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/nowhere", headers={b"Host": host})
        assert response.status_code == 404


class TestBuffering:
    """Access lines are written off the request path, but each one is written."""

    async def test_lines_are_written_within_the_flush_period(
        self, stub: IssuerStub, access_log: AccessLines
    ) -> None:
        """While the app runs, a request's line appears within about `FLUSH_SECONDS`."""
        async with AsyncTestClient(service_app(stub)) as client:
            await client.get("/health")
            await asyncio.sleep(FLUSH_SECONDS + 2)
            assert len(access_log.fields()) == 1

    async def test_line_carries_the_time_of_the_answer(
        self, stub: IssuerStub, access_log: AccessLines
    ) -> None:
        """The line's time is when the request was answered, not when the line was written."""
        async with AsyncTestClient(service_app(stub, log_format="console")) as client:
            before = time.time()
            await client.get("/health")
            after = time.time()
            await asyncio.sleep(1.1)  # the line is written a second later than the answer
        (line,) = [line for line in access_log.text.splitlines() if " access: " in line]
        stamp, _, millis = line[:23].partition(",")
        logged = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
        assert int(before * 1000) / 1000 <= logged <= after

    async def test_every_line_is_written_by_shutdown(
        self, stub: IssuerStub, access_log: AccessLines
    ) -> None:
        """Requests answered just before shutdown are all logged once the app stopped."""
        async with AsyncTestClient(service_app(stub)) as client:
            ids = [(await client.get("/health")).headers["X-Request-ID"] for _ in range(50)]
        assert [entry["request_id"] for entry in access_log.fields()] == ids

    async def test_metrics_only_still_counts_every_request(self, stub: IssuerStub) -> None:
        """With `ACCESS_LOG=false` the metrics still count each request, and no id is echoed."""
        async with AsyncTestClient(service_app(stub, access_log=False)) as client:
            response = await client.get("/health")
            metrics = (await client.get("/metrics")).text
        assert "X-Request-ID" not in response.headers
        assert requests_total(metrics, path="/health", status_code="200") == 1
