from tests.auth.conftest import auth_client, make_app_settings

__all__ = ["auth_client", "make_app_settings"]
