"""GET /api/sync/pull: changes after the cookie, and the device's last applied seq."""

from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from tests.auth.helpers import sign_up
from tests.sql import statements_sent
from tests.sync.factories import delete, device_with_history, make_rest, new_client_id, put


class TestPull:
    def test_a_poll_is_one_statement(self, any_db_client: TestClient) -> None:
        # The sign-in check and the changes come together: one round trip per poll.
        account = sign_up(any_db_client)
        phone = new_client_id()
        account.post("/api/sync/push",
                     json={"client_id": phone, "mutations": [put(1, make_rest())]})
        cookie = account.get("/api/sync/pull", params={"client_id": phone}).json()["cookie"]
        engine = any_db_client.app.state.engine  # type: ignore[attr-defined]
        with statements_sent(engine, any_db_client.app.state.polls) as statements:  # type: ignore[attr-defined]
            answer = account.get("/api/sync/pull", params={"since": cookie, "client_id": phone})
        assert answer.status_code == 200
        assert answer.json()["changes"] == [] and answer.json()["last_applied_seq"] == 1
        # (On SQLite, the database's change counter is asked first: a local read of the
        # shared memory, not a query.)
        queries = [sql for sql in statements if sql != "pragma data_version"]
        assert len(queries) == 1, statements

    def test_a_page_that_turns_into_a_snapshot_is_read_whole(
        self, any_db_client: TestClient
    ) -> None:
        # A cookie newer than the account (say, from an account erased and made again)
        # resets the device: a snapshot, even with a small page asked for. The poll
        # readers read pages only: they hand this one to the pool.
        account, phone, _cookie = device_with_history(any_db_client, rests=3)
        answer = account.get("/api/sync/pull", params={"since": 2**53, "limit": 1,
                                                       "client_id": phone})
        assert answer.status_code == 200
        assert answer.json()["reset"] is True and answer.json()["has_more"] is False
        assert len(answer.json()["changes"]) == 3

    def test_first_pull_brings_everything_and_a_cookie(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        phone, rest = new_client_id(), make_rest()
        account.post("/api/sync/push", json={"client_id": phone, "mutations": [put(1, rest)]})
        answer = account.get("/api/sync/pull", params={"since": 0, "client_id": phone}).json()
        assert answer["changes"] == [
            {"id": rest["id"], "deleted": False, "sync_version": 1, "rest": rest}
        ]
        assert answer["cookie"] == 1
        assert answer["last_applied_seq"] == 1
        assert answer["has_more"] is False

    def test_pull_after_the_cookie_brings_only_newer_changes(
        self, any_db_client: TestClient
    ) -> None:
        account = sign_up(any_db_client)
        phone, first, second = new_client_id(), make_rest(), make_rest()
        account.post("/api/sync/push", json={"client_id": phone, "mutations": [put(1, first)]})
        cookie = account.get("/api/sync/pull").json()["cookie"]
        account.post("/api/sync/push", json={
            "client_id": phone, "mutations": [put(2, second), delete(3, first["id"])]
        })
        answer = account.get("/api/sync/pull", params={"since": cookie}).json()
        assert [(c["id"], c["deleted"]) for c in answer["changes"]] == [
            (second["id"], False), (first["id"], True)
        ]
        assert answer["changes"][1]["rest"] is None

    def test_pages_follow_each_other_without_gaps(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        phone = new_client_id()
        rests = [make_rest() for _ in range(7)]
        account.post("/api/sync/push", json={
            "client_id": phone, "mutations": [put(i + 1, r) for i, r in enumerate(rests)]
        })
        seen, cookie, more = [], 0, True
        while more:
            page = account.get("/api/sync/pull", params={"since": cookie, "limit": 3}).json()
            seen += [c["id"] for c in page["changes"]]
            cookie, more = page["cookie"], page["has_more"]
        assert seen == [r["id"] for r in rests]
        assert cookie == 7

    def test_unknown_device_has_applied_nothing(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        answer = account.get("/api/sync/pull", params={"client_id": new_client_id()}).json()
        assert answer["last_applied_seq"] == 0
        assert answer["changes"] == []

    def test_cookie_from_the_future_gets_a_full_snapshot(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        rest = make_rest()
        account.post("/api/sync/push", json={"client_id": new_client_id(),
                                             "mutations": [put(1, rest)]})
        answer = account.get("/api/sync/pull", params={"since": 99}).json()
        assert answer["reset"] is True
        assert [c["id"] for c in answer["changes"]] == [rest["id"]]

    def test_pull_needs_an_account(self, sync_client: TestClient) -> None:
        assert sync_client.get("/api/sync/pull").status_code == 401


class TestTombstonePurge:
    def test_device_behind_a_purge_gets_a_full_snapshot(self, any_db_client: TestClient) -> None:
        sync_client = any_db_client  # the purge is read back after a pipeline on PostgreSQL
        from datetime import UTC, datetime, timedelta

        from sqlalchemy import update
        from sqlmodel import Session

        from app.models import Rest

        account = sign_up(sync_client)
        phone, kept, gone = new_client_id(), make_rest(), make_rest()
        account.post("/api/sync/push", json={"client_id": phone, "mutations": [
            put(1, kept), put(2, gone), delete(3, gone["id"])]})
        with Session(sync_client.app.state.engine) as db:  # type: ignore[attr-defined]
            db.execute(update(Rest).where(Rest.deleted.is_(True))  # type: ignore[attr-defined]
                       .values(deleted_at=datetime.now(UTC) - timedelta(days=181)))
            db.commit()
        # The next push purges the old tombstone.
        account.post("/api/sync/push", json={"client_id": phone,
                                             "mutations": [put(4, make_rest())]})
        behind = account.get("/api/sync/pull", params={"since": 1}).json()
        assert behind["reset"] is True
        assert gone["id"] not in [c["id"] for c in behind["changes"]]
        assert kept["id"] in [c["id"] for c in behind["changes"]]
        current = account.get("/api/sync/pull", params={"since": 3}).json()
        assert current["reset"] is False

    def test_a_snapshot_after_a_purge_comes_whole_and_paging_ends(
        self, sync_client: TestClient
    ) -> None:
        from datetime import UTC, datetime, timedelta

        from sqlalchemy import update
        from sqlmodel import Session

        from app.models import Rest

        account = sign_up(sync_client)
        phone, gone = new_client_id(), make_rest()
        rests = [make_rest() for _ in range(6)]
        account.post("/api/sync/push", json={"client_id": phone, "mutations": [
            *[put(i + 1, r) for i, r in enumerate(rests)], put(7, gone), delete(8, gone["id"])]})
        with Session(sync_client.app.state.engine) as db:  # type: ignore[attr-defined]
            db.execute(update(Rest).where(Rest.deleted.is_(True))  # type: ignore[attr-defined]
                       .values(deleted_at=datetime.now(UTC) - timedelta(days=181)))
            db.commit()
        account.post("/api/sync/push", json={"client_id": phone,
                                             "mutations": [put(9, make_rest())]})
        # Pages of 3 from a cookie older than the purge, and from scratch: each page's
        # cookie would also predate the purge, so a paged snapshot would restart forever.
        for since in (1, 0):
            seen, cookie, more, pulls = [], since, True, 0
            while more and pulls < 10:
                page = account.get("/api/sync/pull", params={"since": cookie, "limit": 3}).json()
                seen += [c["id"] for c in page["changes"]]
                cookie, more, pulls = page["cookie"], page["has_more"], pulls + 1
            assert pulls == 1
            assert len(seen) == 7 and gone["id"] not in seen

    def test_recent_tombstones_are_kept(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        phone, gone = new_client_id(), make_rest()
        account.post("/api/sync/push", json={"client_id": phone, "mutations": [
            put(1, gone), delete(2, gone["id"]), put(3, make_rest())]})
        changes = account.get("/api/sync/pull", params={"since": 1}).json()["changes"]
        assert {"id": gone["id"], "deleted": True, "sync_version": 2, "rest": None} in changes


class TestTimes:
    def test_offsets_are_stored_and_answered_as_utc(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        rest = make_rest()
        start = rest["started_at"]  # e.g. 2026-11-23T21:35:03.123Z
        shifted = {**rest, "started_at": start[:-1].replace(".123", ".123+00:00")}
        account.post("/api/sync/push", json={"client_id": new_client_id(),
                                             "mutations": [put(1, shifted)]})
        assert account.get(f"/api/history/rests/{rest['id']}").json()["started_at"] == start

    def test_pull_answers_times_as_a_device_clock_writes_them(
        self, any_db_client: TestClient
    ) -> None:
        """UTC, `Z`, milliseconds: what Date.toISOString() gives, whatever was sent."""
        account = sign_up(any_db_client)
        rest = make_rest()
        started = datetime.fromisoformat(rest["started_at"])
        ended = datetime.fromisoformat(rest["ended_at"])
        sent = {**rest,
                "started_at": rest["started_at"].replace(".123Z", ".123987Z"),
                "ended_at": ended.astimezone(timezone(timedelta(hours=2))).isoformat()}
        answer = account.post("/api/sync/push", json={"client_id": new_client_id(),
                                                      "mutations": [put(1, sent)]})
        assert answer.json()["results"][0]["status"] == "applied"

        pulled = account.get("/api/sync/pull").json()["changes"][0]["rest"]

        assert pulled["started_at"] == started.strftime("%Y-%m-%dT%H:%M:%S.123Z")
        assert pulled["ended_at"] == rest["ended_at"]
        assert pulled == rest
