"""Cookie settings: secure by default in production, never relaxable there."""

import pytest
from pydantic import ValidationError

from app.config import Settings


class TestCookieSettings:
    def test_production_refuses_insecure_cookies(self) -> None:
        with pytest.raises(ValidationError, match="COOKIE_SECURE"):
            Settings(environment="production", cookie_secure=False)

    def test_production_defaults_to_the_host_prefixed_secure_cookie(self) -> None:
        settings = Settings(environment="production")
        assert settings.secure_cookies is True
        assert settings.session_cookie_name == "__Host-crg_session"

    def test_development_relaxes_for_plain_http(self) -> None:
        settings = Settings(environment="development")
        assert settings.secure_cookies is False
        assert settings.session_cookie_name == "crg_session"

    def test_development_can_opt_into_secure_cookies(self) -> None:
        assert Settings(environment="development", cookie_secure=True).secure_cookies is True
