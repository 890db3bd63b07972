"""Outages: the database briefly gone, a worker killed in the middle of a push.

The app must keep answering (503 from health, clean error envelopes), and once things are
back, a client that retries its push gets every mutation applied exactly once, with no
partial batch ever visible and nothing stored lost.
"""

import contextlib
import socket
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.hardening.conftest import PgDatabase
from tests.hardening.outages import (
    CSRF,
    AppProcess,
    TcpProxy,
    assert_envelope,
    pull_all,
    put_batch,
    raw_request,
    session_cookie,
    sign_up,
)
from tests.server_process import wait_healthy
from tests.sync.factories import delete, new_client_id


@pytest.fixture
def proxy(pg_database: PgDatabase) -> Iterator[TcpProxy]:
    relay = TcpProxy(pg_database.host, pg_database.port)
    yield relay
    relay.close()


@pytest.fixture
def app_behind_proxy(pg_database: PgDatabase, proxy: TcpProxy) -> Iterator[AppProcess]:
    server = AppProcess({"DATABASE_URL": pg_database.url(proxy.port), "MIGRATE_ON_START": "false"})
    server.start()
    yield server
    server.stop()


@pytest.mark.postgres
class TestDatabaseBrieflyUnavailable:
    def test_health_says_503_while_the_database_is_gone_and_recovers(
        self, app_behind_proxy: AppProcess, proxy: TcpProxy
    ) -> None:
        proxy.cut()
        # The client timeout turns a hang into a failure.
        response = httpx.get(f"{app_behind_proxy.url}/api/health", timeout=10)
        assert response.status_code == 503
        assert response.json()["error"] == "DATABASE_UNAVAILABLE"
        assert app_behind_proxy.alive
        proxy.restore()
        wait_healthy(app_behind_proxy.url)

    def test_health_answers_promptly_while_the_database_stalls(
        self, app_behind_proxy: AppProcess, proxy: TcpProxy
    ) -> None:
        proxy.stalled = True
        try:
            response = httpx.get(f"{app_behind_proxy.url}/api/health", timeout=5)
        finally:
            proxy.cut()  # the stalled links lost bytes: end them, and free the held worker
            proxy.stalled = False
            proxy.restore()
        assert response.status_code == 503

    def test_sign_ins_while_the_database_is_gone_do_not_count_as_failures(
        self, pg_database: PgDatabase, proxy: TcpProxy
    ) -> None:
        # Three failures lock an account; twelve tries that never reached the database
        # must not, or the owner is locked out by an outage.
        server = AppProcess({"DATABASE_URL": pg_database.url(proxy.port),
                             "MIGRATE_ON_START": "false", "LOGIN_MAX_FAILURES_ACCOUNT": "3"})
        server.start()
        try:
            email = f"outage-{new_client_id()}@example.org"
            signed_up = httpx.post(f"{server.url}/api/auth/register", headers=CSRF,
                                   json={"email": email, "password": "correct horse battery"})
            assert signed_up.status_code == 201
            proxy.cut()
            for _ in range(12):
                tried = httpx.post(f"{server.url}/api/auth/login", headers=CSRF,
                                   json={"email": email, "password": "correct horse battery"})
                assert tried.status_code == 503
            proxy.restore()
            wait_healthy(server.url)
            signed_in = httpx.post(f"{server.url}/api/auth/login", headers=CSRF,
                                   json={"email": email, "password": "correct horse battery"})
            assert signed_in.status_code == 200, signed_in.text
        finally:
            server.stop()

    def test_a_poll_while_the_database_is_gone_gets_a_clean_503(
        self, app_behind_proxy: AppProcess, proxy: TcpProxy
    ) -> None:
        client = sign_up(app_behind_proxy.url)
        device = new_client_id()
        assert client.post("/api/sync/push", json={"client_id": device,
                                                   "mutations": put_batch(1, 2)}).status_code == 200
        poll: dict[str, str | int] = {"since": 2, "client_id": device}  # as a device polls
        assert client.get("/api/sync/pull", params=poll).status_code == 200  # connections up
        proxy.cut()
        failed = client.get("/api/sync/pull", params=poll)
        assert failed.status_code == 503
        assert failed.json()["error"] == "DATABASE_UNAVAILABLE"
        assert_envelope(failed)
        proxy.restore()
        wait_healthy(app_behind_proxy.url)
        answer = client.get("/api/sync/pull", params=poll)
        assert answer.status_code == 200
        assert answer.json()["last_applied_seq"] == 2

    def test_a_push_retried_after_the_outage_applies_once_and_nothing_is_lost(
        self, app_behind_proxy: AppProcess, proxy: TcpProxy
    ) -> None:
        client = sign_up(app_behind_proxy.url)
        device = new_client_id()
        before = put_batch(1, 5)
        assert client.post("/api/sync/push", json={"client_id": device,
                                                   "mutations": before}).status_code == 200
        during = [*put_batch(6, 4), delete(10, before[0]["id"])]
        body = {"client_id": device, "mutations": during}

        proxy.cut()
        for _ in range(3):  # a client retrying while the database is gone
            failed = client.post("/api/sync/push", json=body)
            assert failed.status_code == 503
            assert failed.json()["error"] == "DATABASE_UNAVAILABLE"
            assert_envelope(failed)
        assert app_behind_proxy.alive
        proxy.restore()
        wait_healthy(app_behind_proxy.url)

        retried = client.post("/api/sync/push", json=body)
        assert retried.status_code == 200, retried.text
        assert retried.json()["last_applied_seq"] == 10
        assert {r["status"] for r in retried.json()["results"]} == {"applied"}
        again = client.post("/api/sync/push", json=body).json()
        assert {r["status"] for r in again["results"]} == {"duplicate"}

        changes, version, last_seq = pull_all(client, device)
        assert last_seq == 10
        assert version == 10  # ten mutations, each applied once: ten versions
        live = {c["id"] for c in changes if not c["deleted"]}
        assert live == {m["id"] for m in [*before[1:], *during[:4]]}
        assert [c["id"] for c in changes if c["deleted"]] == [before[0]["id"]]


@pytest.mark.postgres
class TestAnswersFollowTheCommit:
    def test_a_push_is_answered_only_after_its_commit_reached_the_database(
        self, app_behind_proxy: AppProcess, proxy: TcpProxy
    ) -> None:
        """An answer sent before the commit can be followed by a failed commit: the device
        would drop mutations the server never stored. Hold the COMMIT and watch the client."""
        client = sign_up(app_behind_proxy.url)
        device = new_client_id()
        body = {"client_id": device, "mutations": put_batch(1, 3)}
        proxy.hold_commits = True
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(client.post, "/api/sync/push", json=body)
            assert proxy.commit_held.wait(10), "the push never committed"
            # The one wait here looks for something that must not happen: an early answer.
            early = answer.done() or _finishes_within(answer, 1.0)
            proxy.release_commits()
            response = answer.result(15)
        assert not early, "the push was answered before its transaction committed"
        assert response.status_code == 200
        changes, _, last_seq = pull_all(client, device)
        assert last_seq == 3 and len(changes) == 3


def _finishes_within(future: Future[httpx.Response], seconds: float) -> bool:
    try:
        future.result(seconds)
    except TimeoutError:
        return False
    return True


@pytest.fixture(params=["sqlite", "postgres"])
def worker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppProcess]:
    env = {"DATA_DIR": str(tmp_path / "data")}
    if request.param == "postgres":
        database: PgDatabase = request.getfixturevalue("pg_database")
        env |= {"DATABASE_URL": database.url(), "MIGRATE_ON_START": "false"}
    server = AppProcess(env)
    server.start()
    yield server
    server.stop()


def signed_up_with_first_batch(server: AppProcess) -> tuple[httpx.Client, str, list[dict]]:
    client = sign_up(server.url)
    device = new_client_id()
    first = put_batch(1, 50)
    assert client.post("/api/sync/push",
                       json={"client_id": device, "mutations": first}).status_code == 200
    return client, device, first


def big_push(client: httpx.Client, device: str, first: list[dict]) -> tuple[list[dict], bytes]:
    """450 mutations (449 new rests and a delete) and the raw HTTP request that carries them."""
    big = [*put_batch(51, 449), delete(500, first[0]["id"])]
    body = httpx.Request("POST", "/", json={"client_id": device, "mutations": big}).content
    request = raw_request("/api/sync/push", body,
                          {"X-Requested-With": "rest-guide", "Cookie": session_cookie(client)})
    return big, request


def assert_retry_settles_exactly_once(client: httpx.Client, device: str, first: list[dict],
                                      big: list[dict], stored: bool | None = None) -> None:
    """`stored`: whether the killed push must have been committed (None: either is right)."""
    # Before the retry, the batch is all there or not there at all.
    changes, version, last_seq = pull_all(client, device)
    assert last_seq in ({50, 500} if stored is None else {500 if stored else 50})
    assert len(changes) == (50 if last_seq == 50 else 499)
    assert version == last_seq

    retried = client.post("/api/sync/push", json={"client_id": device, "mutations": big})
    assert retried.status_code == 200, retried.text
    assert retried.json()["last_applied_seq"] == 500
    expected = "duplicate" if last_seq == 500 else "applied"
    assert {r["status"] for r in retried.json()["results"]} == {expected}

    changes, version, last_seq = pull_all(client, device)
    assert (version, last_seq) == (500, 500)  # 500 mutations, each applied exactly once
    ids = [c["id"] for c in changes]
    assert len(ids) == len(set(ids)) == 499  # no record twice, none lost
    assert [c["id"] for c in changes if c["deleted"]] == [first[0]["id"]]


class TestWorkerKilledMidPush:
    # Where the kill lands: inside the body, after the whole request (while the batch is
    # being applied), and a little later (around the commit).
    @pytest.mark.parametrize("moment", ["mid_body", "after_send", "after_send_late"])
    def test_each_mutation_applies_once_and_no_partial_batch_is_seen(
        self, worker: AppProcess, moment: str
    ) -> None:
        client, device, first = signed_up_with_first_batch(worker)
        big, request = big_push(client, device, first)
        with socket.create_connection(("127.0.0.1", worker.port), timeout=10) as sock:
            if moment == "mid_body":
                sock.sendall(request[: len(request) // 2])
            else:
                sock.sendall(request)
                if moment == "after_send_late":
                    sock.settimeout(0.15)  # give the worker time to get into the batch
                    with contextlib.suppress(TimeoutError):
                        sock.recv(1)
            worker.kill()
        worker.start()
        assert_retry_settles_exactly_once(client, device, first, big)


@pytest.mark.postgres
class TestWorkerKilledAtTheCommit:
    """Deterministic kills: the proxy holds the batch's COMMIT, then the worker dies."""

    @pytest.mark.parametrize("commit_arrives", [False, True], ids=["lost", "after_death"])
    def test_each_mutation_applies_once(self, app_behind_proxy: AppProcess, proxy: TcpProxy,
                                        commit_arrives: bool) -> None:
        client, device, first = signed_up_with_first_batch(app_behind_proxy)
        big, request = big_push(client, device, first)
        proxy.hold_commits = True
        with socket.create_connection(("127.0.0.1", app_behind_proxy.port), timeout=10) as sock:
            sock.sendall(request)
            assert proxy.commit_held.wait(10), "the push never reached its commit"
            app_behind_proxy.kill()
        if commit_arrives:  # the worker died after sending COMMIT: the batch is stored
            proxy.release_commits()
            assert proxy.commit_forwarded.wait(5)
        else:  # the connection dies with the COMMIT unsent: the database rolls back
            proxy.cut()
            proxy.release_commits()
            proxy.restore()
        app_behind_proxy.start()
        assert_retry_settles_exactly_once(client, device, first, big, stored=commit_arrives)
