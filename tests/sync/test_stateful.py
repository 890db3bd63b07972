"""Property-based: 1-5 devices of one account plus another account's device, random
create/edit/delete, offline spells, lost requests and answers, duplicated and reordered
pushes, server restarts. After everyone syncs: nothing lost, everything once, all equal,
nothing deleted comes back, and no account sees another's rests."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from app.config import Settings
from app.main import create_app
from tests.auth.helpers import COOKIE, CSRF, Account, sign_up
from tests.sync.simdevice import Device, Dropped

FAULTS = st.sampled_from(["ok", "ok", "drop_request", "drop_response"])


class Server:
    """One database; `restart` is a new app process on it (a new app and lifespan)."""

    def __init__(self, app_settings: Settings) -> None:
        self.app_settings = app_settings
        self.stack = ExitStack()
        self.client = self._start()

    def _start(self) -> TestClient:
        return self.stack.enter_context(TestClient(create_app(self.app_settings)))

    def restart(self) -> None:
        self.stack.close()
        self.stack = ExitStack()
        self.client = self._start()

    def close(self) -> None:
        self.stack.close()


class SyncMachine(RuleBasedStateMachine):
    server: Server  # set by the test

    @initialize(devices=st.integers(1, 5))
    def start(self, devices: int) -> None:
        self.faults: list[str] = []
        self.alice = sign_up(self.server.client)
        self.bob = sign_up(self.server.client)
        self.devices = [Device(f"alice-{i}", self._sender(self.alice), batch_size=2)
                        for i in range(devices)]
        self.bob_device = Device("bob", self._sender(self.bob))
        self.online = [True] * devices
        self.deleted: set[str] = set()
        self.notes = 0
        # Shared rests from the start, so conflicting edits and deletes are a few steps away.
        for device in self.devices:
            device.create(self._note(device))
        for _ in range(2):
            for device in self.devices:
                device.sync()

    def _sender(self, account: Account) -> Callable[..., dict[str, Any]]:
        def send(method: str, path: str, body: Any, params: dict[str, Any] | None) -> dict:
            fault = self.faults.pop(0) if self.faults else "ok"
            if fault == "drop_request":
                raise Dropped(path)
            response = self.server.client.request(
                method, path, json=body, params=params,
                headers={**CSRF, "Cookie": f"{COOKIE}={account.token}"})
            assert response.status_code == 200, response.text
            if fault == "drop_response":
                raise Dropped(path)  # applied on the server, but the device never hears
            return dict(response.json())
        return send

    def _device(self, index: int) -> Device:
        return self.devices[index % len(self.devices)]

    def _note(self, device: Device) -> str:
        self.notes += 1
        return f"{device.name}#{self.notes}"

    @rule(index=st.integers(0, 4))
    def create(self, index: int) -> None:
        device = self._device(index)
        device.create(self._note(device))

    @rule(index=st.integers(0, 4), pick=st.integers(0, 99))
    def edit(self, index: int, pick: int) -> None:
        device = self._device(index)
        if device.rests:
            device.edit(sorted(device.rests)[pick % len(device.rests)], self._note(device))

    @rule(index=st.integers(0, 4), pick=st.integers(0, 99))
    def delete(self, index: int, pick: int) -> None:
        device = self._device(index)
        if device.rests:
            rest_id = sorted(device.rests)[pick % len(device.rests)]
            device.delete(rest_id)
            self.deleted.add(rest_id)

    @rule(index=st.integers(0, 4))
    def toggle_network(self, index: int) -> None:
        self.online[index % len(self.devices)] ^= True

    @rule(index=st.integers(0, 4), faults=st.lists(FAULTS, max_size=3))
    def sync(self, index: int, faults: list[str]) -> None:
        if not self.online[index % len(self.devices)]:
            return
        self.faults = list(faults)
        with suppress(Dropped):
            self._device(index).sync()
        self.faults = []

    @rule(faults=st.lists(FAULTS, max_size=4))
    def sync_everyone_online(self, faults: list[str]) -> None:
        self.faults = list(faults)
        for index, device in enumerate(self.devices):
            if self.online[index]:
                with suppress(Dropped):
                    device.sync()
        self.faults = []

    @rule(index=st.integers(0, 4), pick=st.integers(0, 99))
    def replay_old_push(self, index: int, pick: int) -> None:
        """A duplicated or reordered request: an old batch arrives again, late."""
        device = self._device(index)
        if device.sent_batches:
            device.push_once(device.sent_batches[pick % len(device.sent_batches)])

    @rule(index=st.integers(0, 4))
    def later_batch_arrives_first(self, index: int) -> None:
        """Reordering: the second batch of the outbox reaches the server before the first."""
        device = self._device(index)
        later = device.outbox[device.batch_size: 2 * device.batch_size]
        if later:
            device.push_once({"client_id": device.client_id, "mutations": later})

    @rule()
    def restart_server(self) -> None:
        self.server.restart()

    @rule()
    def bob_writes(self) -> None:
        self.bob_device.create("bob's own")
        self.bob_device.sync()

    @invariant()
    def no_account_sees_another(self) -> None:
        if not hasattr(self, "devices"):
            return
        bob_ids = set(self.bob_device.rests)
        for device in self.devices:
            assert not bob_ids & set(device.rests)
        assert all(r["note"] == "bob's own" for r in self.bob_device.rests.values())

    def teardown(self) -> None:
        if not hasattr(self, "devices"):
            return
        for _ in range(2):  # everyone online, no faults: two rounds reach everyone
            for device in self.devices:
                device.sync()
        server = {c["id"]: c["rest"] for c in Device("check", self._sender(self.alice))
                  .send("GET", "/api/sync/pull", None, {"since": 0, "limit": 1000})["changes"]
                  if not c["deleted"]}
        written = {rest_id for d in self.devices for rest_id in d.last_write}
        assert set(server) == written - self.deleted, "lost or resurrected rests"
        for device in self.devices:
            assert device.outbox == [], "a mutation was never acknowledged"
            assert device.rests == server, f"{device.name} did not converge"
        for rest_id, rest in server.items():
            finals = {d.last_write[rest_id][1] for d in self.devices if rest_id in d.last_write}
            assert rest["note"] in finals, "a stale write won (applied twice or out of order)"
        assert not set(server) & set(self.bob_device.rests)


@pytest.fixture
def server(make_app_settings: Callable[..., Settings]) -> Iterator[Server]:
    running = Server(make_app_settings())
    yield running
    running.close()


def test_sync_converges_with_nothing_lost_or_doubled(server: Server) -> None:
    SyncMachine.server = server
    run_state_machine_as_test(SyncMachine, settings=settings(
        max_examples=40, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    ))
