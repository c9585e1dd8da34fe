"""Idempotency-Key: a save sent with a key is stored at most once per page and key."""

import asyncio

import httpx
import psycopg
import pytest

from app.pool import Connection
from harness.servers import command, running_server
from tests.db_checks import assert_clusters_match_clicks, snapshot, wait_for_lock_waiters
from tests.helpers import SAVE, click, random_prefix


async def stored(conn: Connection, page: str) -> list[tuple[float, float, int]]:
    cursor = await conn.execute(
        "SELECT x, y, cluster_idx FROM clicks WHERE page_uuid = %s ORDER BY seq", (page,)
    )
    return await cursor.fetchall()


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def test_a_retry_answers_what_the_first_save_answered_and_stores_nothing(
    client: httpx.AsyncClient, conn: Connection
) -> None:
    page = random_prefix()
    first = await client.post(SAVE, json=click(page, 0.2, 0.2), headers=keyed("a"))
    assert first.json() == {"cluster_idx": 0, "is_new": True}
    # Later saves move the centroid: a new save at (0.2, 0.2) would now join, not open.
    await client.post(SAVE, json=click(page, 0.23, 0.2))
    retry = await client.post(SAVE, json=click(page, 0.2, 0.2), headers=keyed("a"))
    assert (retry.status_code, retry.json()) == (200, {"cluster_idx": 0, "is_new": True})
    assert await stored(conn, page) == [(0.2, 0.2, 0), (0.23, 0.2, 0)]
    await assert_clusters_match_clicks(conn)


async def test_the_same_key_for_another_click_is_422_and_stores_nothing(
    client: httpx.AsyncClient, conn: Connection
) -> None:
    page = random_prefix()
    await client.post(SAVE, json=click(page, 0.2, 0.2), headers=keyed("a"))
    before = await snapshot(conn)
    for x, y in [(0.2, 0.3), (0.3, 0.2)]:
        response = await client.post(SAVE, json=click(page, x, y), headers=keyed("a"))
        assert response.status_code == 422
        assert "Idempotency-Key" in response.json()["detail"]
    assert await snapshot(conn) == before


async def test_keys_are_per_page_and_per_key(client: httpx.AsyncClient, conn: Connection) -> None:
    page, other_page = random_prefix(), random_prefix()
    for target, key in [(page, "a"), (page, "b"), (other_page, "a")]:
        response = await client.post(SAVE, json=click(target), headers=keyed(key))
        assert response.status_code == 200
    assert len(await stored(conn, page)) == 2
    assert len(await stored(conn, other_page)) == 1


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9", "tab\there", "\x7f", "ab  ", " "])
async def test_a_malformed_key_is_422_and_stores_nothing(
    client: httpx.AsyncClient, conn: Connection, key: str
) -> None:
    page = random_prefix()
    headers = [(b"Idempotency-Key", key.encode())]
    response = await client.post(SAVE, json=click(page), headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert await stored(conn, page) == []


async def test_the_longest_key_is_taken(client: httpx.AsyncClient, conn: Connection) -> None:
    page = random_prefix()
    for _ in range(2):
        response = await client.post(SAVE, json=click(page), headers=keyed("k" * 255))
        assert response.status_code == 200
    assert len(await stored(conn, page)) == 1


async def test_retries_in_flight_wait_for_the_first_and_get_its_answer(
    client: httpx.AsyncClient, conn: Connection, database_url: str
) -> None:
    page = random_prefix()
    await client.post(SAVE, json=click(page, 0.9, 0.9))
    async with await psycopg.AsyncConnection.connect(database_url) as locker:
        await locker.execute("SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE", (page,))
        retries = [
            asyncio.create_task(client.post(SAVE, json=click(page, 0.2, 0.2), headers=keyed("a")))
            for _ in range(5)
        ]
        await wait_for_lock_waiters(conn, 5)
    responses = await asyncio.gather(*retries)
    assert [response.json() for response in responses] == [{"cluster_idx": 1, "is_new": True}] * 5
    assert await stored(conn, page) == [(0.9, 0.9, 0), (0.2, 0.2, 1)]


async def test_a_save_whose_answer_was_lost_is_not_stored_again_by_its_retry(
    conn: Connection, database_url: str
) -> None:
    page = random_prefix()
    body = click(page, 0.2, 0.2)
    with running_server(database_url, workers=1) as server:
        async with (
            server.client() as client,
            await psycopg.AsyncConnection.connect(database_url) as locker,
        ):
            await client.post(SAVE, json=click(page, 0.9, 0.9))
            await locker.execute("SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE", (page,))
            lost = asyncio.create_task(client.post(SAVE, json=body, headers=keyed("a")))
            await wait_for_lock_waiters(conn, 1)
            lost.cancel()  # the client gives up and drops the connection; the save goes on
        async with asyncio.timeout(10):
            while len(await stored(conn, page)) < 2:
                await asyncio.sleep(0.02)
        async with server.client() as client:
            retry = await client.post(SAVE, json=body, headers=keyed("a"))
    assert retry.json() == {"cluster_idx": 1, "is_new": True}
    assert await stored(conn, page) == [(0.9, 0.9, 0), (0.2, 0.2, 1)]


async def test_prune_deletes_expired_keys_in_batches_without_waiting_for_page_locks(
    client: httpx.AsyncClient, conn: Connection, database_url: str
) -> None:
    page = random_prefix()
    for key in "abcde":
        await client.post(SAVE, json=click(page), headers=keyed(key))
    await conn.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 hours'"
        " WHERE page_uuid = %s AND key <> 'e'",
        (page,),
    )
    async with await psycopg.AsyncConnection.connect(database_url) as locker:
        await locker.execute("SELECT 1 FROM pages WHERE page_uuid = %s FOR UPDATE", (page,))
        result = await asyncio.to_thread(
            command, "prune", database_url, "--batch", "2", IDEMPOTENCY_TTL_HOURS="1.5"
        )
    assert (result.returncode, result.stdout) == (0, "4 expired idempotency key(s) deleted\n")
    cursor = await conn.execute("SELECT key FROM idempotency_keys WHERE page_uuid = %s", (page,))
    assert await cursor.fetchall() == [("e",)]
    # An expired key that is gone no longer dedupes: its retry is stored anew.
    response = await client.post(SAVE, json=click(page), headers=keyed("a"))
    assert response.json() == {"cluster_idx": 0, "is_new": False}
    assert len(await stored(conn, page)) == 6
