"""Prometheus metrics: the `/metrics` endpoint, refusal and key-set metrics, and their lifecycle."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from .conftest import ISSUER, bearer, service_app

if TYPE_CHECKING:
    from litestar import Litestar

    from .conftest import IssuerStub, Keyring

    Client = AsyncTestClient[Litestar]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of sample `name` whose labels include `labels`, in Prometheus text; None if absent."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and labels.items() <= item.labels.items():
                return item.value
    return None


async def scrape(client: Client) -> str:
    """The text of `/metrics`, which must answer 200."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


class TestEndpoint:
    """`/metrics` with the default settings."""

    async def test_served_without_a_token_as_prometheus_text(self, stub: IssuerStub) -> None:
        """`/metrics` answers 200 without a token, in the Prometheus text format."""
        async with AsyncTestClient(service_app(stub)) as client:
            response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")

    async def test_lists_every_metric_of_the_service(self, stub: IssuerStub) -> None:
        """The refusal, key-set and request metrics are all declared."""
        async with AsyncTestClient(service_app(stub)) as client:
            assert (await client.get("/ready")).status_code == 200
            text = await scrape(client)
        for declaration in (
            "# TYPE auth_refusals_total counter",
            "# TYPE jwks_fetches_total counter",
            "# TYPE jwks_fetch_failures_total counter",
            "# TYPE jwks_key_set_age_seconds gauge",
            "# TYPE jwks_ready gauge",
            "# TYPE http_requests_total counter",
            "# TYPE http_request_duration_seconds histogram",
            "# TYPE http_requests_error_total counter",
            "# TYPE http_requests_in_progress gauge",
        ):
            assert declaration in text

    async def test_key_set_metrics_once_keys_are_loaded(self, stub: IssuerStub) -> None:
        """With keys loaded: one fetch, no failure, ready 1 and a small, finite age, by issuer."""
        async with AsyncTestClient(service_app(stub)) as client:
            assert (await client.get("/ready")).status_code == 200
            text = await scrape(client)
        assert sample(text, "jwks_ready", issuer=ISSUER) == 1.0
        assert sample(text, "jwks_fetches_total") == 1.0
        assert sample(text, "jwks_fetch_failures_total") == 0.0
        age = sample(text, "jwks_key_set_age_seconds")
        assert age is not None
        assert 0 <= age < 60

    async def test_key_set_metrics_while_the_issuer_is_down(self, stub: IssuerStub) -> None:
        """Without keys: failed fetches counted, ready 0 and the age NaN."""
        stub.fault = "down"
        async with AsyncTestClient(service_app(stub)) as client:
            assert (await client.get("/ready")).status_code == 503
            text = await scrape(client)
        assert sample(text, "jwks_ready", issuer=ISSUER) == 0.0
        failures = sample(text, "jwks_fetch_failures_total")
        assert failures is not None
        assert failures >= 1
        assert sample(text, "jwks_fetches_total") == failures
        age = sample(text, "jwks_key_set_age_seconds")
        assert age is not None
        assert math.isnan(age)

    async def test_requests_are_counted_by_route_and_status(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """`http_requests_total` counts requests per route and status, a refusal under its 401."""
        labels = {"method": "GET", "path": "/protected"}
        async with AsyncTestClient(service_app(stub)) as client:
            before = await scrape(client)
            await client.get("/protected", headers=bearer(keyring.token()))
            await client.get("/protected")
            await client.get("/protected")
            after = await scrape(client)
        for status, added in (("200", 1), ("401", 2)):
            old = sample(before, "http_requests_total", status_code=status, **labels) or 0.0
            assert sample(after, "http_requests_total", status_code=status, **labels) == old + added

    async def test_latency_is_observed_per_route_and_status(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """Each request adds one observation, of a positive duration, to its route's histogram."""
        labels = {"method": "GET", "path": "/protected", "status_code": "200"}
        async with AsyncTestClient(service_app(stub)) as client:
            before = await scrape(client)
            for _ in range(3):
                await client.get("/protected", headers=bearer(keyring.token()))
            after = await scrape(client)
        count, total = "http_request_duration_seconds_count", "http_request_duration_seconds_sum"
        assert sample(after, count, **labels) == (sample(before, count, **labels) or 0.0) + 3
        assert (sample(after, total, **labels) or 0.0) > (sample(before, total, **labels) or 0.0)

    async def test_server_errors_are_counted_and_nothing_stays_in_progress(
        self, stub: IssuerStub
    ) -> None:
        """A 500 counts under `http_requests_error_total`; no request is left in progress."""
        labels = {"method": "GET", "path": "/broken"}
        async with AsyncTestClient(service_app(stub)) as client:
            before = await scrape(client)
            assert (await client.get("/broken")).status_code == 500
            after = await scrape(client)
        errors = "http_requests_error_total"
        old = sample(before, errors, status_code="500", **labels) or 0.0
        assert sample(after, errors, status_code="500", **labels) == old + 1
        assert sample(after, "http_requests_in_progress", **labels) == 0.0


class TestRefusals:
    """`auth_refusals_total`, by reason and status (process-wide: compared before and after)."""

    @pytest.mark.parametrize(
        ("token_claims", "reason"),
        [(None, "no_authorization_header"), ({"exp": 1_000_000}, "expired")],
        ids=["missing", "expired"],
    )
    async def test_refusal_increments_its_reason(
        self,
        stub: IssuerStub,
        keyring: Keyring,
        token_claims: dict[str, Any] | None,
        reason: str,
    ) -> None:
        """Each refused request adds one to `auth_refusals_total{reason, status="401"}`."""
        headers = {} if token_claims is None else bearer(keyring.token(**token_claims))
        async with AsyncTestClient(service_app(stub)) as client:
            before = await scrape(client)
            for _ in range(3):
                assert (await client.get("/protected", headers=headers)).status_code == 401
            after = await scrape(client)
        old = sample(before, "auth_refusals_total", reason=reason, status="401") or 0.0
        assert sample(after, "auth_refusals_total", reason=reason, status="401") == old + 3

    async def test_insufficient_scope_is_counted_as_403(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """A guard's refusal is counted under its reason with status 403."""
        labels = {"reason": "insufficient_scope", "status": "403"}
        async with AsyncTestClient(service_app(stub)) as client:
            before = await scrape(client)
            response = await client.get("/admin", headers=bearer(keyring.token(scope="read")))
            assert response.status_code == 403
            after = await scrape(client)
        old = sample(before, "auth_refusals_total", **labels) or 0.0
        assert sample(after, "auth_refusals_total", **labels) == old + 1

    async def test_accepted_request_is_not_counted(
        self, stub: IssuerStub, keyring: Keyring
    ) -> None:
        """An accepted request leaves every refusal counter unchanged."""
        async with AsyncTestClient(service_app(stub)) as client:
            before = await scrape(client)
            await client.get("/protected", headers=bearer(keyring.token()))
            after = await scrape(client)

        def refusals(text: str) -> list[tuple[str, float]]:
            return [
                (str(sorted(item.labels.items())), item.value)
                for family in text_string_to_metric_families(text)
                for item in family.samples
                if item.name == "auth_refusals_total"
            ]

        assert refusals(after) == refusals(before)


class TestSettings:
    """`METRICS_PATH` and `METRICS_REQUIRE_TOKEN`."""

    async def test_token_can_be_required(self, stub: IssuerStub, keyring: Keyring) -> None:
        """With `metrics_require_token`, `/metrics` refuses a request without a token and serves one with."""
        async with AsyncTestClient(service_app(stub, metrics_require_token=True)) as client:
            refused = await client.get("/metrics")
            served = await client.get("/metrics", headers=bearer(keyring.token()))
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
        assert served.status_code == 200
        assert sample(served.text, "jwks_ready") == 1.0

    async def test_empty_path_turns_metrics_off(self, stub: IssuerStub, keyring: Keyring) -> None:
        """With `metrics_path=""` there is no `/metrics`, and nothing is registered process-wide."""
        async with AsyncTestClient(service_app(stub, metrics_path="")) as client:
            assert (await client.get("/ready")).status_code == 200
            response = await client.get("/metrics", headers=bearer(keyring.token()))
            assert REGISTRY.get_sample_value("jwks_ready") is None
        assert response.status_code == 404

    async def test_metrics_served_at_another_path(self, stub: IssuerStub, keyring: Keyring) -> None:
        """`metrics_path` moves the endpoint; `/metrics` is then not found."""
        async with AsyncTestClient(service_app(stub, metrics_path="/internal/metrics")) as client:
            moved = await client.get("/internal/metrics")
            old = await client.get("/metrics", headers=bearer(keyring.token()))
        assert moved.status_code == 200
        assert "# TYPE jwks_ready gauge" in moved.text
        assert old.status_code == 404


class TestExposure:
    """What `/metrics` shows a scraper that needs no token, and what it keeps to itself."""

    async def test_no_interpreter_or_garbage_collector_details(self, stub: IssuerStub) -> None:
        """No `python_info` (the exact Python version) and no `python_gc_*` series are served."""
        async with AsyncTestClient(service_app(stub)) as client:
            text = await scrape(client)
        assert "python_info" not in text
        assert "python_gc_" not in text

    async def test_only_the_services_own_families_and_process_ones(self, stub: IssuerStub) -> None:
        """Every family served is one of the service's, or a `process_*` one (CPU, memory, fds)."""
        own = {
            "auth_refusals",
            "jwks_fetches",
            "jwks_fetch_failures",
            "jwks_key_set_age_seconds",
            "jwks_ready",
            "http_requests",
            "http_request_duration_seconds",
            "http_requests_error",
            "http_requests_in_progress",
        }
        async with AsyncTestClient(service_app(stub)) as client:
            text = await scrape(client)
        names = {family.name for family in text_string_to_metric_families(text)}
        assert own <= names
        assert all(name.startswith("process_") for name in names - own), names - own

    async def test_not_in_the_process_wide_registry(self, stub: IssuerStub) -> None:
        """The app's metrics live in its own registry, not prometheus_client's default one."""
        async with AsyncTestClient(service_app(stub)) as client:
            assert (await client.get("/ready")).status_code == 200
            assert sample(await scrape(client), "jwks_ready") == 1.0
            assert REGISTRY.get_sample_value("jwks_ready") is None
            assert REGISTRY.get_sample_value("http_requests_total") is None


class TestRegistryPerApp:
    """Each app counts in a registry of its own."""

    async def test_apps_in_sequence_in_one_process(self, stub: IssuerStub) -> None:
        """A second app started after the first stopped serves its metrics without a clash."""
        for _ in range(2):
            async with AsyncTestClient(service_app(stub)) as client:
                assert sample(await scrape(client), "jwks_fetches_total") is not None

    async def test_each_app_reports_its_own_key_set_and_requests(self, stub: IssuerStub) -> None:
        """The second app's metrics count its own fetches and requests, not the first app's."""
        labels = {"path": "/ready", "status_code": "200"}
        for _ in range(2):
            async with AsyncTestClient(service_app(stub)) as client:
                assert (await client.get("/ready")).status_code == 200
                text = await scrape(client)
                assert sample(text, "jwks_fetches_total") == 1.0
                assert sample(text, "http_requests_total", **labels) == 1.0
        assert stub.jwks_fetches == 2
