"""New sessions cost seconds of CPU: a budget per client address, and one render at a time."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from app.audio.store import MediaStore
from app.auth.rate_limit import make_render_budget
from app.config import Settings
from app.deps import get_session_scripts
from app.main import create_app
from app.routines.service import SessionScripts
from tests.auth.test_rate_limit import REDIS_URL, redis_available
from tests.conftest import IN_CI, make_settings

SESSION = "/api/routines/quick-reset/session"


@pytest.fixture
def make_app_settings(tmp_path: Path, speech_cache: Path) -> Callable[..., Settings]:
    # Without the voice a render is bells and captions only: quick enough for many of them.
    def build(data: str = "data", **overrides: object) -> Settings:
        return make_settings(tmp_path / data, speech_cache, voice_enabled=False, **overrides)
    return build


def new_session(client: TestClient, prep: int) -> Response:
    """A session of its own per `prep`: the first request for it renders it."""
    return client.get(SESSION, params={"minutes": 3, "cues": "bells", "prep": prep})


class TestRenderBudget:
    def test_a_new_session_past_the_budget_is_refused_with_retry_after(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        settings = make_app_settings(render_limit_per_address=2, render_limit_window_s=600)
        with TestClient(create_app(settings)) as client:
            assert new_session(client, 0).status_code == 200
            assert new_session(client, 1).status_code == 200
            refused = new_session(client, 2)
        assert refused.status_code == 429
        body = refused.json()
        assert body["error"] == "TOO_MANY_NEW_SESSIONS"
        assert "already prepared still play" in body["detail"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 600
        assert body["retry_after_s"] == int(refused.headers["Retry-After"])

    def test_sessions_in_memory_still_play_over_budget(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        with TestClient(create_app(make_app_settings(render_limit_per_address=2))) as client:
            first = new_session(client, 0).json()
            new_session(client, 1)
            assert new_session(client, 2).status_code == 429
            again = new_session(client, 0)
        assert again.status_code == 200
        assert again.json() == first

    def test_sessions_stored_by_another_instance_still_play_over_budget(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        # One database, two instances: the second has the session stored, not in memory.
        settings = make_app_settings(render_limit_per_address=2)
        with TestClient(create_app(settings)) as one:
            first = new_session(one, 0).json()
        with TestClient(create_app(settings)) as two:
            assert new_session(two, 1).status_code == 200
            assert new_session(two, 2).status_code == 200
            assert new_session(two, 3).status_code == 429
            stored = new_session(two, 0)
        assert stored.status_code == 200
        assert stored.json() == first

    def test_another_address_keeps_its_own_budget(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        app = create_app(make_app_settings(render_limit_per_address=1))
        with TestClient(app, client=("10.0.0.1", 50000)) as first:
            assert new_session(first, 0).status_code == 200
            assert new_session(first, 1).status_code == 429
            # Same app, same lifespan: only the client address differs.
            second = TestClient(app, client=("10.0.0.2", 50000))
            assert new_session(second, 1).status_code == 200
            assert new_session(second, 2).status_code == 429


@pytest.fixture
def redis_limits() -> dict[str, object]:
    if not redis_available():
        if IN_CI:
            pytest.fail("Redis is required in CI at " + REDIS_URL)
        pytest.skip("Redis is not running")
    # A prefix of its own, so parallel runs do not share a budget.
    return {"redis_url": REDIS_URL, "redis_key_prefix": f"crg-test-{uuid.uuid4().hex}:"}


class TestBudgetSharedThroughRedis:
    def test_two_instances_spend_one_budget(
        self, make_app_settings: Callable[..., Settings], redis_limits: dict[str, object]
    ) -> None:
        one_settings = make_app_settings("one", render_limit_per_address=2, **redis_limits)
        two_settings = make_app_settings("two", render_limit_per_address=2, **redis_limits)
        with TestClient(create_app(one_settings)) as one, \
             TestClient(create_app(two_settings)) as two:
            assert new_session(one, 0).status_code == 200
            assert new_session(two, 1).status_code == 200
            assert new_session(one, 2).status_code == 429
            assert new_session(two, 3).status_code == 429


class FailingOnceScripts(SessionScripts):
    """The first render fails, as a full disk or a broken voice would make it."""

    failed = False

    def _render(self, *args: Any, **kwargs: Any) -> bytes:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the render failed")
        return super()._render(*args, **kwargs)


class TestFailedRenders:
    def test_a_failed_render_costs_nothing_of_the_budget(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        settings = make_app_settings(render_limit_per_address=1)
        scripts = FailingOnceScripts(MediaStore(settings.audio_dir), None,
                                     make_render_budget(settings))
        app = create_app(settings)
        app.dependency_overrides[get_session_scripts] = lambda: scripts
        with TestClient(app, raise_server_exceptions=False) as client:
            assert new_session(client, 0).status_code == 500
            assert new_session(client, 0).status_code == 200
            assert new_session(client, 1).status_code == 429


class ObservedScripts(SessionScripts):
    """Records how many renders run at once; each waits a moment for company."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = threading.Lock()
        self._running = 0
        self._company = threading.Event()
        self.most_at_once = 0

    def _render(self, *args: Any, **kwargs: Any) -> bytes:
        with self._guard:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
            if self._running > 1:
                self._company.set()
        # Long enough for a second render to start if nothing holds it back.
        self._company.wait(0.5)
        try:
            return super()._render(*args, **kwargs)
        finally:
            with self._guard:
                self._running -= 1


class TestRenderConcurrency:
    @pytest.mark.parametrize("concurrency", [1, 2])
    def test_renders_at_once_never_exceed_the_setting(
        self, make_app_settings: Callable[..., Settings], concurrency: int
    ) -> None:
        settings = make_app_settings(render_concurrency=concurrency)
        observed = ObservedScripts(MediaStore(settings.audio_dir), None,
                                   make_render_budget(settings), settings.render_concurrency)
        app = create_app(settings)
        app.dependency_overrides[get_session_scripts] = lambda: observed
        with TestClient(app) as client, ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda prep: new_session(client, prep), range(3)))
        assert [a.status_code for a in answers] == [200, 200, 200]
        # With room for two, two do overlap: the observation can see what the limit prevents.
        assert observed.most_at_once == concurrency
