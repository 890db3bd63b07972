"""Two app instances on one database, pushing at the same moment: no double application."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.auth.helpers import Account, sign_up
from tests.sync.factories import make_rest, new_client_id, put


@pytest.fixture
def two_instances(make_app_settings: Callable[..., Settings],
                  database_url: str | None) -> Iterator[list[TestClient]]:
    with ExitStack() as stack:
        yield [stack.enter_context(TestClient(create_app(make_app_settings(database_url))))
               for _ in range(2)]


def _as(account: Account, client: TestClient) -> Account:
    return Account(client, account.email, account.token)


class TestConcurrentPushes:
    def test_same_batch_pushed_eight_times_at_once_applies_once(
        self, two_instances: list[TestClient]
    ) -> None:
        account = sign_up(two_instances[0])
        device = new_client_id()
        batch = {"client_id": device,
                 "mutations": [put(i, make_rest(note=str(i))) for i in range(1, 21)]}
        senders = [_as(account, two_instances[i % 2]) for i in range(8)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda a: a.post("/api/sync/push", json=batch), senders))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        applied = sum(r["status"] == "applied" for a in answers for r in a.json()["results"])
        assert applied == 20
        pulled = account.get("/api/sync/pull", params={"client_id": device}).json()
        assert pulled["cookie"] == 20
        assert pulled["last_applied_seq"] == 20
        assert len(pulled["changes"]) == 20

    def test_devices_pushing_together_get_distinct_versions(
        self, two_instances: list[TestClient]
    ) -> None:
        account = sign_up(two_instances[0])
        batches = [{"client_id": new_client_id(),
                    "mutations": [put(i, make_rest()) for i in range(1, 11)]} for _ in range(4)]
        senders = [_as(account, two_instances[i % 2]) for i in range(4)]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda pair: pair[0].post("/api/sync/push", json=pair[1]),
                                    zip(senders, batches, strict=True)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        changes = account.get("/api/sync/pull").json()["changes"]
        assert sorted(c["sync_version"] for c in changes) == list(range(1, 41))
