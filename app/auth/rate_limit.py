"""Counting per client address and per account in fixed windows (Redis or memory).

Failed sign-ins are counted here, and so are the session renders each address causes.
"""

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from app.config import Settings

log = logging.getLogger(__name__)


class FailureCounter(Protocol):
    def count(self, key: str) -> tuple[int, float]:
        """Failures in the current window and seconds until it ends."""

    def add(self, key: str) -> int: ...

    def release(self, key: str) -> None:
        """Take back one that `add` counted, if its window still runs."""

    def reset(self, key: str) -> None: ...


class MemoryCounter:
    """Fixed windows in process memory: right for one instance and for tests."""

    def __init__(self, window_s: int) -> None:
        self._window_s = window_s
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, float]] = {}

    def _live(self, key: str, now: float) -> tuple[int, float]:
        count, ends_at = self._entries.get(key, (0, 0.0))
        return (count, ends_at) if ends_at > now else (0, 0.0)

    def count(self, key: str) -> tuple[int, float]:
        now = time.monotonic()
        with self._lock:
            count, ends_at = self._live(key, now)
        return count, max(0.0, ends_at - now)

    def add(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            count, ends_at = self._live(key, now)
            if not count:
                ends_at = now + self._window_s
                # Drop expired entries now and then so the dict cannot grow without bound.
                if len(self._entries) > 10_000:
                    self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            self._entries[key] = (count + 1, ends_at)
            return count + 1

    def release(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            count, ends_at = self._live(key, now)
            if count:
                self._entries[key] = (count - 1, ends_at)

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


class RedisCounter:
    """Fixed windows in Redis, shared by every app instance."""

    def __init__(self, url: str, window_s: int, prefix: str) -> None:
        import redis  # only needed when REDIS_URL is set

        self._redis = redis.Redis.from_url(url, socket_timeout=2)
        self._window_s = window_s
        self._prefix = prefix
        # Atomic: a key whose window ended between a check and a DECR would come back
        # as -1 with no expiry, and never end.
        self._release = self._redis.register_script(
            "if redis.call('exists', KEYS[1]) == 1 then redis.call('decr', KEYS[1]) end")

    def count(self, key: str) -> tuple[int, float]:
        pipe = self._redis.pipeline()
        pipe.get(self._prefix + key)
        pipe.pttl(self._prefix + key)
        raw, ttl_ms = pipe.execute()
        if raw is None or ttl_ms is None or ttl_ms < 0:
            return 0, 0.0
        return int(raw), ttl_ms / 1000

    def add(self, key: str) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(self._prefix + key)
        # NX: the window starts at the first failure and is not extended by later ones.
        pipe.expire(self._prefix + key, self._window_s, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def release(self, key: str) -> None:
        self._release(keys=[self._prefix + key])

    def reset(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


class FallbackCounter:
    """Redis first; when Redis does not answer, this instance's memory (logged once a minute).

    Sign-in keeps working through a Redis outage, still limited per instance.
    """

    def __init__(self, primary: FailureCounter, fallback: FailureCounter) -> None:
        self._primary = primary
        self._fallback = fallback
        self._warned_at = 0.0

    def _down(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            log.warning("rate-limit store unavailable, counting in memory: %s", type(exc).__name__)

    def count(self, key: str) -> tuple[int, float]:
        try:
            return self._primary.count(key)
        except Exception as exc:  # any Redis or network failure
            self._down(exc)
            return self._fallback.count(key)

    def add(self, key: str) -> int:
        try:
            return self._primary.add(key)
        except Exception as exc:
            self._down(exc)
            return self._fallback.add(key)

    def release(self, key: str) -> None:
        try:
            self._primary.release(key)
        except Exception as exc:
            self._down(exc)
            self._fallback.release(key)

    def reset(self, key: str) -> None:
        self._fallback.reset(key)
        try:
            self._primary.reset(key)
        except Exception as exc:
            self._down(exc)


def client_address(request: Request) -> str:
    """The address limits count by: the peer, or the proxy's X-Forwarded-For under
    uvicorn's --proxy-headers (see docs/deployment.md)."""
    return request.client.host if request.client else "unknown"


def make_counter(settings: Settings, window_s: int, name: str) -> FailureCounter:
    """Memory alone, or Redis shared by every instance (keys under `name:`) with memory as
    the fallback while Redis does not answer."""
    memory = MemoryCounter(window_s)
    if not settings.redis_url:
        return memory
    redis_counter = RedisCounter(settings.redis_url, window_s,
                                 f"{settings.redis_key_prefix}{name}:")
    return FallbackCounter(redis_counter, memory)


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


@dataclass
class LoginThrottle:
    """Decides, before a sign-in check, whether to refuse (429) or slow the answer down."""

    counter: FailureCounter
    slowdown_after: int
    slowdown_step_s: float
    max_failures_account: int
    max_failures_address: int

    @staticmethod
    def account_key(email: str) -> str:
        # Hashed so Redis never holds the address itself.
        return "acct:" + hashlib.sha256(email.encode()).hexdigest()[:32]

    @staticmethod
    def address_key(address: str) -> str:
        return "addr:" + address

    def attempt(self, email: str, address: str) -> float:
        """Count this attempt as failed until it succeeds, then raise TooManyAttempts past
        a limit, or return how long to delay its answer.

        Counted before the password is checked, in one step per key: attempts sent in
        parallel each see the ones before them, so a burst cannot all slip under a limit
        while the first hashes are still being computed.
        """
        keys = (self.account_key(email), self.address_key(address))
        account, by_address = (self.counter.add(key) for key in keys)
        over = [key for key, count, limit in zip(
            keys, (account, by_address), (self.max_failures_account, self.max_failures_address),
            strict=True) if count > limit]
        if over:
            left_s = max(self.counter.count(key)[1] for key in over)
            raise TooManyAttempts(max(1, math.ceil(left_s)))
        earlier = max(account, by_address) - 1  # failed or still in progress
        slower = earlier - self.slowdown_after + 1
        return min(slower, 8) * self.slowdown_step_s if slower > 0 else 0.0

    def unchecked(self, email: str, address: str) -> None:
        """Take the attempt back: its password was never checked."""
        self.counter.release(self.account_key(email))
        self.counter.release(self.address_key(address))

    def succeeded(self, email: str, address: str) -> None:
        """Take the attempt back: a success is not a failure."""
        self.counter.reset(self.account_key(email))
        # The address's earlier failures stay: one's own account must not unlock guessing
        # at others.
        self.counter.release(self.address_key(address))


def make_throttle(settings: Settings) -> LoginThrottle:
    return LoginThrottle(
        counter=make_counter(settings, settings.login_window_s, "login-fail"),
        slowdown_after=settings.login_slowdown_after,
        slowdown_step_s=settings.login_slowdown_step_s,
        max_failures_account=settings.login_max_failures_account,
        max_failures_address=settings.login_max_failures_address,
    )


@dataclass
class AddressBudget:
    """At most `limit` of something costly per client address in each window."""

    counter: FailureCounter
    limit: int

    def spend(self, address: str) -> None:
        """Count one more, or raise TooManyAttempts when the address has none left."""
        # Counted before the check, in one step: parallel requests cannot all slip under
        # the limit. A refusal counts too, but the window is fixed, so it ends no later.
        key = LoginThrottle.address_key(address)
        if self.counter.add(key) > self.limit:
            _, left_s = self.counter.count(key)
            raise TooManyAttempts(max(1, math.ceil(left_s)))

    def refund(self, address: str) -> None:
        """Give back one spent: what it paid for did not happen."""
        self.counter.release(LoginThrottle.address_key(address))


def make_render_budget(settings: Settings) -> AddressBudget:
    return AddressBudget(
        make_counter(settings, settings.render_limit_window_s, "render"),
        settings.render_limit_per_address,
    )
