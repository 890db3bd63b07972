"""Many requests at once against a real server: none waits on another forever."""

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.aio import run_async
from tests.server_process import LiveServer, free_port
from tests.sync.conftest import postgres_url  # noqa: F401  (fixture)
from tests.sync.factories import make_rest, new_client_id, put

CSRF = {"X-Requested-With": "rest-guide"}
PUSHES = 60


async def push_all_at_once(url: str) -> tuple[list[int], int]:
    async with httpx.AsyncClient(base_url=url, headers=CSRF, timeout=60) as account:
        signed_up = await account.post(
            "/api/auth/register", json={"email": "many@example.org", "password": "calm floor rest"}
        )
        assert signed_up.status_code == 201

        async def push() -> int:
            rests = [make_rest() for _ in range(3)]
            body = {
                "client_id": new_client_id(),
                "mutations": [put(seq, rest) for seq, rest in enumerate(rests, start=1)],
            }
            return (await account.post("/api/sync/push", json=body)).status_code

        statuses = await asyncio.gather(*(push() for _ in range(PUSHES)))
        pulled = (await account.get("/api/sync/pull", params={"since": 0})).json()
        return list(statuses), len(pulled["changes"])


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_more_pushes_than_connections_all_succeed(
    database: str, tmp_path: Path, speech_cache: Path, request: pytest.FixtureRequest
):
    # Two connections and sixty pushes of one account: every push holds the account's
    # write lock for a moment, and none may starve the others of threads or connections.
    env = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "0", "VOICE_ENABLED": "false"}
    if database == "postgres":
        env |= {"DATABASE_URL": request.getfixturevalue("postgres_url")}
    server = LiveServer(tmp_path / "data", speech_cache, free_port())
    server.start(env)
    try:
        statuses, stored = run_async(push_all_at_once(server.url))
    finally:
        server.stop()
    assert statuses == [200] * PUSHES
    assert stored == 3 * PUSHES
