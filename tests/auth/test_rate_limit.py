"""Failed sign-ins slow down, then 429 with Retry-After: per account and per address."""

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.auth.rate_limit import LoginThrottle, MemoryCounter, RedisCounter, TooManyAttempts
from app.config import Settings
from app.main import create_app
from tests.auth.helpers import CSRF, PASSWORD, new_email, sign_up
from tests.conftest import IN_CI

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(params=["memory", "redis"])
def limits(request: pytest.FixtureRequest) -> dict[str, object]:
    """Small limits; Redis gets a prefix of its own so parallel runs do not meet."""
    overrides: dict[str, object] = {
        "login_max_failures_account": 3, "login_max_failures_address": 6,
        "login_slowdown_after": 100, "login_window_s": 60,
    }
    if request.param == "redis":
        if not redis_available():
            if IN_CI:
                pytest.fail("Redis is required in CI at " + REDIS_URL)
            pytest.skip("Redis is not running")
        overrides |= {"redis_url": REDIS_URL, "redis_key_prefix": f"crg-test-{uuid.uuid4().hex}:"}
    return overrides


@pytest.fixture
def limited_client(make_app_settings: Callable[..., Settings],
                   limits: dict[str, object]) -> Iterator[TestClient]:
    with TestClient(create_app(make_app_settings(**limits))) as client:
        yield client


def attempt(client: TestClient, email: str, password: str = "wrong password"):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/login", headers=CSRF, json={"email": email, "password": password})


class TestLoginLimits:
    def test_account_is_refused_after_repeated_failures(self, limited_client: TestClient) -> None:
        account = sign_up(limited_client)
        for _ in range(3):
            assert attempt(limited_client, account.email).status_code == 401
        refused = attempt(limited_client, account.email, PASSWORD)  # even the right password
        assert refused.status_code == 429
        assert refused.json()["error"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60

    def test_unknown_email_is_limited_like_a_real_one(self, limited_client: TestClient) -> None:
        email = new_email()
        for _ in range(3):
            assert attempt(limited_client, email).status_code == 401
        assert attempt(limited_client, email).status_code == 429

    def test_address_is_refused_across_many_accounts(self, limited_client: TestClient) -> None:
        for _ in range(6):
            assert attempt(limited_client, new_email()).status_code == 401
        refused = attempt(limited_client, new_email())
        assert refused.status_code == 429
        assert "Retry-After" in refused.headers

    def test_a_parallel_burst_gets_no_more_guesses_than_the_limit(
        self, limited_client: TestClient
    ) -> None:
        # Twelve guesses at once, while the first hashes are still being computed: at
        # most the account's three are checked (fewer when the address's six run out
        # first), the others are refused unchecked.
        account = sign_up(limited_client)
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda _: attempt(limited_client, account.email),
                                    range(12)))
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(401) <= 3
        assert statuses.count(429) == 12 - statuses.count(401)

    def test_success_clears_the_account_count(self, limited_client: TestClient) -> None:
        account = sign_up(limited_client)
        for _ in range(2):
            attempt(limited_client, account.email)
        assert attempt(limited_client, account.email, PASSWORD).status_code == 200
        for _ in range(2):
            assert attempt(limited_client, account.email).status_code == 401


class TestSharedThroughRedis:
    def test_two_instances_count_failures_together(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        if not redis_available():
            if IN_CI:
                pytest.fail("Redis is required in CI")
            pytest.skip("Redis is not running")
        limits = {"redis_url": REDIS_URL, "redis_key_prefix": f"crg-test-{uuid.uuid4().hex}:",
                  "login_max_failures_account": 2, "login_slowdown_after": 100}
        with TestClient(create_app(make_app_settings(**limits))) as one, \
             TestClient(create_app(make_app_settings(**limits))) as two:
            email = new_email()
            assert attempt(one, email).status_code == 401
            assert attempt(two, email).status_code == 401
            assert attempt(one, email).status_code == 429


class TestThrottle:
    def _throttle(self) -> LoginThrottle:
        return LoginThrottle(MemoryCounter(60), slowdown_after=2, slowdown_step_s=0.5,
                             max_failures_account=5, max_failures_address=50)

    def test_answers_slow_down_before_they_are_refused(self) -> None:
        throttle = self._throttle()
        delays = [throttle.attempt("a@example.org", "10.0.0.1") for _ in range(5)]
        assert delays == [0.0, 0.0, 0.5, 1.0, 1.5]
        with pytest.raises(TooManyAttempts):
            throttle.attempt("a@example.org", "10.0.0.1")

    def test_a_success_takes_its_attempt_back(self) -> None:
        throttle = self._throttle()
        for _ in range(3):
            throttle.attempt("a@example.org", "10.0.0.1")
        throttle.succeeded("a@example.org", "10.0.0.1")
        # The account starts over; the address keeps its two failures, not the success.
        assert throttle.counter.count(throttle.account_key("a@example.org"))[0] == 0
        assert throttle.counter.count(throttle.address_key("10.0.0.1"))[0] == 2

    def test_redis_counter_keeps_a_window(self) -> None:
        if not redis_available():
            if IN_CI:
                pytest.fail("Redis is required in CI at " + REDIS_URL)
            pytest.skip("Redis is not running")
        counter = RedisCounter(REDIS_URL, 60, f"crg-test-{uuid.uuid4().hex}:")
        assert counter.count("k") == (0, 0.0)
        counter.add("k")
        counter.add("k")
        counter.release("k")
        count, left = counter.count("k")
        assert count == 1 and 0 < left <= 60
        counter.reset("k")
        assert counter.count("k")[0] == 0
        counter.release("k")  # its window is over: nothing is left behind without one
        assert counter.count("k") == (0, 0.0)


class TestRedisOutage:
    def test_sign_in_still_limits_when_redis_is_down(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        unreachable = "redis://127.0.0.1:1/0"  # nothing listens on port 1
        settings = make_app_settings(redis_url=unreachable, login_max_failures_account=2,
                                     login_slowdown_after=100)
        with TestClient(create_app(settings)) as client:
            account = sign_up(client)
            assert attempt(client, account.email).status_code == 401
            assert attempt(client, account.email).status_code == 401
            assert attempt(client, account.email, PASSWORD).status_code == 429
