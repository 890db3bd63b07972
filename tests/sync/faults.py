"""Fault injection against real server processes: lost requests (before and after the
server commits), duplicated and reordered requests, server restarts mid-run."""

import contextlib
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.auth.helpers import COOKIE, CSRF, PASSWORD, new_email
from tests.server_process import AppServer
from tests.sync.simdevice import Dropped

ServerProcess = AppServer  # restart() is a crash: kill, then start again


def create_account(url: str) -> str:
    response = httpx.post(f"{url}/api/auth/register", headers=CSRF,
                          json={"email": new_email(), "password": PASSWORD}, timeout=10)
    response.raise_for_status()
    return str(response.cookies[COOKIE])


@dataclass
class FaultStats:
    sent: int = 0
    dropped_before: int = 0
    dropped_after: int = 0
    duplicated: int = 0
    reordered: int = 0
    connection_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bump(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class FaultyNetwork:
    """One device's network: 10% lost before the server, 10% lost after it committed,
    10% sent twice, 10% held back and delivered after the next request."""

    def __init__(self, servers: list[ServerProcess], token: str, seed: int,
                 stats: FaultStats) -> None:
        self.servers = servers
        self.token = token
        self.rng = random.Random(seed)
        self.stats = stats
        self.faults_on = True
        self.held: tuple[str, str, Any, dict[str, Any] | None] | None = None
        self.http = httpx.Client(timeout=15, headers={**CSRF, "Cookie": f"{COOKIE}={token}"})

    def _deliver(self, method: str, path: str, body: Any,
                 params: dict[str, Any] | None) -> dict[str, Any]:
        server = self.rng.choice(self.servers)  # several instances share one database
        try:
            response = self.http.request(method, server.url + path, json=body, params=params)
        except httpx.HTTPError as exc:
            self.stats.bump("connection_errors")
            raise Dropped(path) from exc
        self.stats.bump("sent")
        if response.status_code >= 500 or response.status_code in {502, 503}:
            raise Dropped(f"{path}: {response.status_code}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def _deliver_late(self) -> None:
        if self.held is None:
            return
        held, self.held = self.held, None
        with contextlib.suppress(Dropped):
            self._deliver(*held)  # its answer goes to a request the device gave up on

    def send(self, method: str, path: str, body: Any,
             params: dict[str, Any] | None) -> dict[str, Any]:
        if not self.faults_on:
            return self._deliver(method, path, body, params)
        roll = self.rng.random()
        try:
            if roll < 0.10:
                self.stats.bump("dropped_before")
                raise Dropped(path)
            if roll < 0.20:
                self._deliver(method, path, body, params)
                self.stats.bump("dropped_after")
                raise Dropped(path)
            if roll < 0.30:
                self.stats.bump("duplicated")
                self._deliver(method, path, body, params)
                return self._deliver(method, path, body, params)
            if roll < 0.40 and self.held is None:
                self.stats.bump("reordered")
                self.held = (method, path, body, params)
                raise Dropped(path)
            return self._deliver(method, path, body, params)
        finally:
            if self.held is not None and roll >= 0.40:
                self._deliver_late()

    def close(self) -> None:
        self.http.close()
