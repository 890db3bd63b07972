"""Fault injection against real server processes: lost requests (before and after the
server commits), duplicated and reordered requests, server restarts mid-run."""

import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.auth.helpers import COOKIE, CSRF, PASSWORD, new_email
from tests.sync.simdevice import Dropped

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A uvicorn process of the app; `restart` kills it hard and starts it again."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Another process may take the port while this one is down: then take a new one
        # (devices read `url` on every request).
        for _ in range(3):
            try:
                self._start_once()
                return
            except RuntimeError:
                self.stop()
                self.port = free_port()
        self._start_once()

    def _start_once(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env={**env, **self.env},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the app server exited during start-up")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the app server did not become healthy in 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # a crash, not a graceful stop: in-flight requests are cut
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


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
