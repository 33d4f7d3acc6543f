"""``PgAccessFacts`` consent lookups: answered by group lookup, never from a cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from mesh import facts as facts_module
from mesh.clock import FakeClock
from mesh.db import create_pool, migrate
from mesh.facts import PgAccessFacts
from mesh.status import Unavailable

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(fresh_database, max_size=4)
    await migrate(p, "consent", ROOT / "services/consent/migrations")
    try:
        yield p
    finally:
        await p.close()


async def grant(
    pool: asyncpg.Pool, cid: str, resident: str, grantee: str, category: str, **extra: Any
) -> None:
    await pool.execute(
        """INSERT INTO consent.grants (consent_id, resident_id, grantee_id, data_category,
               granted_by, grantor_kind, status, granted_at, expires_at)
           VALUES ($1, $2, $3, $4, $2, 'resident', 'active', $5, $6)""",
        cid,
        resident,
        grantee,
        category,
        datetime.fromtimestamp(NOW - 60, UTC),
        extra.get("expires_at"),
    )


def clock() -> FakeClock:
    c = FakeClock()
    c.advance(NOW - c.wall())
    return c


class QueryLog:
    """Records each consent query's batch size; can hold the first one after it ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, hold_first: bool = False) -> None:
        self.batches: list[int] = []
        self.ran_first = asyncio.Event()
        self.release = asyncio.Event()
        if not hold_first:
            self.release.set()
        original = facts_module._consent_rows

        async def spy(conn: asyncpg.Connection, batch: Sequence[Any]) -> list[asyncpg.Record]:
            self.batches.append(len(batch))
            rows = await original(conn, batch)
            if len(self.batches) == 1:
                self.ran_first.set()
                await self.release.wait()
            return rows

        monkeypatch.setattr(facts_module, "_consent_rows", spy)


async def test_each_caller_in_a_batch_gets_its_own_answer(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await grant(pool, "c1", "res-1", "fam-1", "conversations")
    await grant(pool, "c2", "res-1", "fam-1", "memories")
    await grant(pool, "c3", "res-2", "fam-1", "wellbeing")
    await grant(pool, "c4", "res-1", "fam-2", "memories")
    await grant(
        pool, "c5", "res-1", "fam-2", "conversations", expires_at=datetime.fromtimestamp(NOW, UTC)
    )
    log = QueryLog(monkeypatch)
    facts = PgAccessFacts(pool, clock())
    answers = await asyncio.gather(
        facts.consent_categories("res-1", "fam-1"),
        facts.consent_categories("res-2", "fam-1"),
        facts.consent_categories("res-1", "fam-2"),
        facts.consent_categories("res-1", "nobody"),
    )
    assert {"conversations", "memories"} <= answers[0] and "wellbeing" not in answers[0]
    assert "wellbeing" in answers[1] and "memories" not in answers[1]
    # c5 expired at the caller's own "now": not granted.
    assert "memories" in answers[2] and "conversations" not in answers[2]
    assert answers[3] == frozenset()
    assert log.batches == [4]  # one query answered all four


async def test_lookups_queued_behind_a_query_share_the_next_one(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await grant(pool, "c1", "res-1", "fam-1", "conversations")
    log = QueryLog(monkeypatch, hold_first=True)
    facts = PgAccessFacts(pool, clock())
    first = asyncio.ensure_future(facts.consent_categories("res-1", "fam-1"))
    await log.ran_first.wait()
    later = [asyncio.ensure_future(facts.consent_categories("res-1", "fam-1")) for _ in range(9)]
    log.release.set()
    answers = await asyncio.gather(first, *later)
    assert all("conversations" in a for a in answers)
    assert log.batches == [1, 9]


async def test_a_revocation_applies_to_the_next_call_even_with_a_query_in_flight(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call never joins a query that has already started: the one asked after the
    revocation committed is answered by a query that sees it."""
    await grant(pool, "c1", "res-1", "fam-1", "conversations")
    log = QueryLog(monkeypatch, hold_first=True)
    facts = PgAccessFacts(pool, clock())
    before = asyncio.ensure_future(facts.consent_categories("res-1", "fam-1"))
    await log.ran_first.wait()  # its snapshot predates the revocation
    await pool.execute("UPDATE consent.grants SET status = 'revoked' WHERE consent_id = 'c1'")
    after = asyncio.ensure_future(facts.consent_categories("res-1", "fam-1"))
    log.release.set()
    assert "conversations" in await before
    assert "conversations" not in await after
    assert log.batches == [1, 1]


async def test_every_waiting_caller_fails_closed_when_the_database_cannot_answer(
    pool: asyncpg.Pool,
) -> None:
    facts = PgAccessFacts(pool, clock())
    await pool.close()
    results = await asyncio.gather(
        *(facts.consent_categories("res-1", f"fam-{i}") for i in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, Unavailable) for r in results)


async def test_a_database_without_the_consent_schema_grants_nothing(fresh_database: str) -> None:
    p = await create_pool(fresh_database, max_size=2)
    try:
        facts = PgAccessFacts(p, clock())
        assert await facts.consent_categories("res-1", "fam-1") == frozenset()
    finally:
        await p.close()
