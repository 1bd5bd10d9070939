"""`check_url`: which issuer and JWKS URLs are accepted, and the message for each refusal."""

from __future__ import annotations

import re

import pytest

from {{ cookiecutter.package_name }}.auth.urls import check_url


class TestPorts:
    """A port is a number from 1 to 65535, in ASCII digits: anything else is refused up front."""

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:99999",
            "http://127.0.0.1:65536/keys",
            "http://127.0.0.1:0",
            "http://127.0.0.1:00",
            "http://127.0.0.1:-1",
            "http://[::1]:x/",
            "https://issuer.test:+443/",
            "https://issuer.test:4_43/",
            "https://issuer.test:\uff14\uff14\uff13/",
            "https://issuer.test:" + "9" * 5000 + "/",
            "https://issuer.test:443:443/",
        ],
    )
    def test_invalid_port_is_refused(self, url: str) -> None:
        """Out of range, zero, negative, signed, non-ASCII or repeated ports say so."""
        with pytest.raises(ValueError, match=re.escape(f"{url!r} has an invalid port")):
            check_url(url)

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:1",
            "https://issuer.test:65535/",
            "http://[::1]:8080/",
            "https://i.test:/k",
        ],
    )
    def test_ports_within_range_are_accepted(self, url: str) -> None:
        """1 and 65535 are ports; an empty port means the scheme's default."""
        assert check_url(url) == url


class TestWhatHttpxWouldRefuse:
    """URLs that pass Python's parser but that httpx cannot request are refused with a reason."""

    @pytest.mark.parametrize(
        "url",
        ["https://xn--.test/", "https://\u2603.test/", "https://[::1/keys", "https://[not-ip]/"],
    )
    def test_unrequestable_url_is_refused(self, url: str) -> None:
        """A malformed IDNA label, an invalid name or a broken IPv6 literal is not a valid URL."""
        with pytest.raises(ValueError, match=re.escape(f"{url!r} is not a valid URL")):
            check_url(url)

    @pytest.mark.parametrize(
        "url",
        ["http://127.0.0.1:80@evil.test/", "http://127.0.0.1\\@evil.test/"],
    )
    def test_loopback_lookalike_in_userinfo_is_not_loopback(self, url: str) -> None:
        """The host is what follows `@`: plain http to it is refused."""
        with pytest.raises(ValueError, match="must use https"):
            check_url(url)
