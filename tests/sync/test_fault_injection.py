"""End to end against real server processes: 10 devices x 200 offline changes, a faulty
network (20% lost before/after commit, 10% duplicated, 10% reordered) and 3 server
crashes; afterwards 0 lost, 0 duplicated, every device identical. SQLite and PostgreSQL."""

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.sync.faults import FaultStats, FaultyNetwork, ServerProcess, create_account
from tests.sync.simdevice import Device, Dropped

DEVICES = 10
CHANGES = 400  # enough to drain through three crashes, now that a push is quick
RESTARTS = 3


def _offline_changes(device: Device, rng: random.Random, deleted: set[str]) -> None:
    for n in range(CHANGES):
        roll = rng.random()
        ids = sorted(device.rests)
        if roll < 0.55 or not ids:
            device.create(f"{device.name}#{n}")
        elif roll < 0.85:
            device.edit(rng.choice(ids), f"{device.name}#{n}")
        else:
            rest_id = rng.choice(ids)
            device.delete(rest_id)
            deleted.add(rest_id)


def _sync_until_done(device: Device, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            device.sync()
            if not device.outbox:
                return
        except Dropped:
            time.sleep(0.05)  # a short back-off, as the app does


def run_fault_injection(servers: list[ServerProcess]) -> FaultStats:
    rng = random.Random(20261124)
    token = create_account(servers[0].url)
    stats = FaultStats()
    networks = [FaultyNetwork(servers, token, seed=i, stats=stats) for i in range(DEVICES)]
    devices = [Device(f"phone-{i}", networks[i].send, batch_size=10) for i in range(DEVICES)]
    deleted: set[str] = set()
    try:
        # Shared history first (no faults), so offline edits and deletes collide.
        for network in networks:
            network.faults_on = False
        for _ in range(3):
            devices[0].create("seed")
        for device in devices:
            device.sync()
        devices[0].sync()
        for device in devices:
            _offline_changes(device, rng, deleted)
        # Everyone comes online at once over the faulty network; the servers crash 3 times.
        for network in networks:
            network.faults_on = True
        stop = threading.Event()
        threads = [threading.Thread(target=_sync_until_done, args=(d, stop)) for d in devices]
        for thread in threads:
            thread.start()
        # Crash a server at 80%, 60% and 40% of the outboxes still to drain, so every
        # crash lands mid-sync (kill -9: requests in flight are cut, before or after commit).
        # A crashed server starts again in the background: the next crash comes when the
        # outboxes reach the next mark, not after a start-up that on a slow machine lasts
        # long enough for the devices to finish on the other instance. A server is crashed
        # again only once it is back.
        total = sum(len(d.outbox) for d in devices)
        crashes_mid_sync = 0
        with ThreadPoolExecutor(max_workers=len(servers)) as starter:
            starting: dict[int, Future[None]] = {}
            for crash in range(RESTARTS):
                threshold = total * (0.8 - 0.2 * crash)
                while sum(len(d.outbox) for d in devices) > threshold:
                    time.sleep(0.005)
                index = crash % len(servers)
                if index in starting:
                    starting.pop(index).result()
                crashes_mid_sync += sum(len(d.outbox) for d in devices) > 0
                servers[index].kill()
                starting[index] = starter.submit(servers[index].start)
            for started in starting.values():
                started.result()  # a start that failed fails the test here
        assert crashes_mid_sync == RESTARTS, "a crash came after the devices had finished"
        for thread in threads:
            thread.join(timeout=90)
        stop.set()
        assert not any(thread.is_alive() for thread in threads), "sync did not finish"
        # A last clean round: every device pushes nothing more and pulls everything.
        for network in networks:
            network.faults_on = False
            if network.held:
                network._deliver_late()
        for _ in range(2):
            for device in devices:
                device.sync()
        check_outcome(devices, deleted)
    finally:
        for network in networks:
            network.close()
    return stats


def check_outcome(devices: list[Device], deleted: set[str]) -> None:
    changes, cookie, more = [], 0, True
    while more:
        page = devices[0].send("GET", "/api/sync/pull", None, {"since": cookie})
        changes += page["changes"]
        cookie, more = page["cookie"], page["has_more"]
    live = [c for c in changes if not c["deleted"]]
    server = {c["id"]: c["rest"] for c in live}
    assert len(server) == len(live), "a rest is stored twice"
    written = {rest_id for d in devices for rest_id in d.last_write}
    assert set(server) == written - deleted, (
        f"lost: {len(written - deleted - set(server))}, "
        f"resurrected: {len(set(server) & deleted)}")
    for rest_id, rest in server.items():
        finals = {d.last_write[rest_id][1] for d in devices if rest_id in d.last_write}
        assert rest["note"] in finals, "a stale write won"
    for device in devices:
        assert device.outbox == []
        assert device.rests == server, f"{device.name} differs from the server"
    # Every mutation of every device was applied exactly once, as the server counts it.
    for device in devices:
        answer = device.send("GET", "/api/sync/pull", None,
                             {"since": device.cookie, "client_id": device.client_id})
        assert answer["last_applied_seq"] == device.next_seq - 1


@pytest.fixture
def sqlite_servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    server = ServerProcess({"DATA_DIR": str(tmp_path / "data"), "ENVIRONMENT": "test",
                            "VOICE_ENABLED": "false", "SPEECH_CACHE_DIR": str(tmp_path)})
    server.start()
    yield [server]
    server.stop()


@pytest.fixture
def postgres_servers(tmp_path: Path, postgres_url: str) -> Iterator[list[ServerProcess]]:
    """Two app instances on one PostgreSQL database."""
    env = {"DATA_DIR": str(tmp_path / "data"), "ENVIRONMENT": "test", "VOICE_ENABLED": "false",
           "SPEECH_CACHE_DIR": str(tmp_path), "DATABASE_URL": postgres_url,
           "MIGRATE_ON_START": "false"}
    servers = [ServerProcess(dict(env)), ServerProcess(dict(env))]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


class TestFaultInjection:
    def test_sqlite_survives_a_faulty_network_and_crashes(
        self, sqlite_servers: list[ServerProcess]
    ) -> None:
        stats = run_fault_injection(sqlite_servers)
        assert stats.dropped_before and stats.dropped_after and stats.duplicated
        assert stats.reordered

    def test_postgres_with_two_instances_survives_the_same(
        self, postgres_servers: list[ServerProcess]
    ) -> None:
        stats = run_fault_injection(postgres_servers)
        assert stats.dropped_before and stats.dropped_after and stats.duplicated
        assert stats.reordered
