"""Fault tools for the outage tests: an app server process, a cuttable TCP proxy, a client."""

import asyncio
import threading
import time
from typing import Any

import httpx

from tests.server_process import AppServer, free_port
from tests.sync.factories import make_rest, put

CSRF = {"X-Requested-With": "rest-guide"}


class AppProcess(AppServer):
    """The app with no voice (outages need no speech), its output kept quiet."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__({"VOICE_ENABLED": "false", **env}, quiet=True)


class TcpProxy:
    """A TCP relay to the database that the test can cut and restore.

    Cut: every open connection is aborted and new ones are closed as soon as they arrive,
    as when the database restarts or the network drops.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.up = True
        # Stalled: bytes are accepted from both sides and forwarded nowhere (a network
        # partition, a frozen database host): nothing fails, nothing answers.
        self.stalled = False
        # While set, a client message that commits is held back until release_commits().
        self.hold_commits = False
        self.commit_held = threading.Event()
        self.commit_forwarded = threading.Event()
        self._release: asyncio.Event | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = self._run(asyncio.start_server(self._handle, "127.0.0.1", self.port))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer, to_database=True),
                             self._pipe(up_reader, writer))
        self._links -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    to_database: bool = False) -> None:
        ended = False
        try:
            while data := await reader.read(65536):
                if self.stalled:
                    continue
                if to_database and self.hold_commits and _commits(data):
                    # A push's write whole, to its Sync (it commits there), out of the
                    # sender's way before the test goes on: a worker killed with part of
                    # it unsent would lose that part, and the database would never see it
                    # whole. (A COMMIT comes in one message.)
                    while (b"SYNC_PUSH(" in data.upper() and not data.endswith(_SYNC)
                           and (more := await reader.read(65536))):
                        data += more
                    self._release = self._release or asyncio.Event()
                    self.commit_held.set()
                    await self._release.wait()
                    writer.write(data)
                    await writer.drain()
                    self.commit_forwarded.set()
                    continue
                writer.write(data)
                await writer.drain()
            ended = True
        except (ConnectionError, OSError):
            pass
        finally:
            if ended:
                # The sender closed its end: what it sent still arrives, as over a network
                # (a worker killed after sending its push's write).
                writer.close()
            else:
                writer.transport.abort()

    async def _cut(self) -> None:
        self.up = False
        for writer in list(self._links):
            writer.transport.abort()

    def cut(self) -> None:
        self._run(self._cut())

    def restore(self) -> None:
        self.up = True

    async def _release_commits(self) -> None:
        self.hold_commits = False
        if self._release is not None:
            self._release.set()

    def release_commits(self) -> None:
        self._run(self._release_commits())

    def close(self) -> None:
        self.cut()
        self._server.close()
        self._run(self._server.wait_closed())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def sign_up(base_url: str) -> httpx.Client:
    """A client signed in to a new account (the session cookie lives in its jar)."""
    client = httpx.Client(base_url=base_url, headers=CSRF, timeout=15)
    response = client.post("/api/auth/register", json={
        "email": f"outage-{time.monotonic_ns()}@example.org", "password": "correct horse battery"})
    assert response.status_code == 201, response.text
    return client


def put_batch(first_seq: int, count: int) -> list[dict[str, Any]]:
    """`count` puts of new rests, numbered from `first_seq`."""
    return [put(first_seq + i, make_rest(note=f"rest {first_seq + i}")) for i in range(count)]


def pull_all(client: httpx.Client, client_id: str) -> tuple[list[dict[str, Any]], int, int]:
    """Every change from the start: (changes, cookie, last_applied_seq)."""
    changes: list[dict[str, Any]] = []
    since = 0
    while True:
        response = client.get("/api/sync/pull", params={"since": since, "client_id": client_id})
        assert response.status_code == 200, response.text
        page = response.json()
        changes += page["changes"]
        since = page["cookie"]
        if not page["has_more"]:
            return changes, page["cookie"], page["last_applied_seq"]


def assert_envelope(response: httpx.Response) -> None:
    body = response.json()
    assert isinstance(body["error"], str) and body["error"].isupper()
    assert isinstance(body["detail"], str) and "Traceback" not in body["detail"]


def raw_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of an HTTP/1.1 POST, for sending by hand (part of it, or all of it)."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def session_cookie(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


_SYNC = b"S\x00\x00\x00\x04"  # the message that ends a statement sent in parts


def _commits(data: bytes) -> bool:
    """A client message that commits: a COMMIT, or a push's write on PostgreSQL, a
    statement of its own (the call of sync_push with a decision, whose rows go as JSON;
    sent as text while not yet prepared: the first pushes of a connection)."""
    upper = data.upper()
    return b"COMMIT" in upper or (b"SYNC_PUSH(" in upper and b"JSONB" in upper)
