"""The audit table against real PostgreSQL: chain, append-only guards, tampering, batching."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import asyncpg
import pytest
from audit_helpers import KEYS, make_event

from mesh.clock import FakeClock
from services.audit import store
from services.audit.chain import GENESIS, ChainHead, Violation, ViolationKind, verify_chain
from services.audit.logic import AuditEventData
from services.audit.writer import WRITER_ROLE, AuditWriter

PARTITION = "2025-01-01"  # FakeClock's default wall start is 2025-01-01T00:00:00Z


async def verify(pool: asyncpg.Pool, partition: str = PARTITION) -> list[Violation]:
    events, head = await store.read_partition(pool, partition)
    return verify_chain([e.record() for e in events], KEYS.keys, expected_head=head)


async def tamper(pool: asyncpg.Pool, *statements: str) -> None:
    """Change rows as a superuser would: with ordinary triggers switched off."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for sql in statements:
            await conn.execute(sql)


async def seeded(pool: asyncpg.Pool, clock: FakeClock, n: int = 6) -> AuditWriter:
    writer = AuditWriter(pool, KEYS, clock=clock)
    await writer.append([make_event(i) for i in range(1, n + 1)])
    return writer


async def test_append_builds_a_linear_chain(pool: asyncpg.Pool, clock: FakeClock) -> None:
    writer = AuditWriter(pool, KEYS, clock=clock)
    first = await writer.append([make_event(1), make_event(2)])
    second = await writer.append([make_event(3)])
    assert [s.sequence for s in first + second] == [1, 2, 3]
    assert first[0].prev_hash == GENESIS and first[0].wire_prev_hash == ""
    assert second[0].prev_hash == first[1].integrity_hash
    assert {s.partition for s in first + second} == {PARTITION}
    assert await verify(pool) == []
    _, head = await store.read_partition(pool, PARTITION)
    assert head == ChainHead(3, second[0].integrity_hash)


async def test_same_audit_id_is_stored_once(pool: asyncpg.Pool, clock: FakeClock) -> None:
    writer = AuditWriter(pool, KEYS, clock=clock)
    (a,) = await writer.append([make_event(1)])
    again = await writer.append([make_event(1, actor_user_id="other"), make_event(2)])
    assert again[0] == a  # returned as stored, not appended again
    assert again[1].sequence == 2
    dup = await writer.append([make_event(3), make_event(3)])
    assert dup[0] == dup[1] and dup[0].sequence == 3
    assert await pool.fetchval("SELECT count(*) FROM audit.events") == 3


async def test_partition_follows_the_recording_day(pool: asyncpg.Pool, clock: FakeClock) -> None:
    writer = AuditWriter(pool, KEYS, clock=clock)
    (a,) = await writer.append([make_event(1)])
    clock.advance(86_400)
    (b,) = await writer.append([make_event(2)])
    assert (a.partition, a.sequence) == ("2025-01-01", 1)
    assert (b.partition, b.sequence) == ("2025-01-02", 1)


async def test_trigger_refuses_update_delete_truncate_even_for_the_owner(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    await seeded(pool, clock, 2)
    for sql in (
        "UPDATE audit.events SET actor_user_id = 'x' WHERE sequence = 1",
        "DELETE FROM audit.events WHERE sequence = 1",
        "TRUNCATE audit.events",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await pool.execute(sql)
    assert await pool.fetchval("SELECT count(*) FROM audit.events") == 2


async def test_writer_role_may_insert_and_read_but_never_update_or_delete(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    # The writer itself runs as the role: appends work.
    writer = AuditWriter(pool, KEYS, clock=clock, writer_role=WRITER_ROLE)
    await writer.append([make_event(1), make_event(2)])
    async with pool.acquire() as conn:
        for sql in (
            "UPDATE audit.events SET actor_user_id = 'x' WHERE sequence = 1",
            "DELETE FROM audit.events WHERE sequence = 1",
            "TRUNCATE audit.events",
        ):
            async with conn.transaction():
                await conn.execute(f"SET LOCAL ROLE {WRITER_ROLE}")
                # Refused by privileges before the trigger is even reached.
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await conn.execute(sql)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL ROLE {WRITER_ROLE}")
            assert await conn.fetchval("SELECT count(*) FROM audit.events") == 2
    privileges = await pool.fetchrow(
        """SELECT has_table_privilege($1, 'audit.events', 'INSERT') AS ins,
                  has_table_privilege($1, 'audit.events', 'SELECT') AS sel,
                  has_table_privilege($1, 'audit.events', 'UPDATE') AS upd,
                  has_table_privilege($1, 'audit.events', 'DELETE') AS del,
                  has_table_privilege($1, 'audit.events', 'TRUNCATE') AS trn""",
        WRITER_ROLE,
    )
    assert dict(privileges) == {"ins": True, "sel": True, "upd": False, "del": False, "trn": False}
    assert await verify(pool) == []


async def test_sql_edit_is_detected(pool: asyncpg.Pool, clock: FakeClock) -> None:
    await seeded(pool, clock)
    await tamper(pool, "UPDATE audit.events SET actor_user_id = 'mallory' WHERE sequence = 3")
    found = await verify(pool)
    assert [(v.kind, v.sequence, v.audit_id) for v in found] == [(ViolationKind.EDITED, 3, "a-3")]


async def test_sql_edit_of_a_json_context_or_time_is_detected(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    await seeded(pool, clock)
    await tamper(
        pool,
        """UPDATE audit.events SET additional_context = '{"rpc": "/x/Y", "n": "999"}'
           WHERE sequence = 2""",
        "UPDATE audit.events SET occurred_at = occurred_at + interval '1 microsecond'"
        " WHERE sequence = 5",
    )
    found = await verify(pool)
    assert {(v.kind, v.sequence) for v in found} == {
        (ViolationKind.EDITED, 2),
        (ViolationKind.EDITED, 5),
    }


async def test_sql_delete_is_detected(pool: asyncpg.Pool, clock: FakeClock) -> None:
    await seeded(pool, clock)
    await tamper(pool, "DELETE FROM audit.events WHERE sequence = 4")
    found = await verify(pool)
    assert [(v.kind, v.sequence) for v in found] == [(ViolationKind.DELETED, 4)]


async def test_sql_tail_delete_is_detected_through_the_head(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    await seeded(pool, clock)
    await tamper(pool, "DELETE FROM audit.events WHERE sequence = 6")
    found = await verify(pool)
    assert [(v.kind, v.sequence) for v in found] == [(ViolationKind.DELETED, 6)]


async def test_sql_swapped_sequence_numbers_are_detected(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    await seeded(pool, clock)
    await tamper(
        pool,
        """UPDATE audit.events SET sequence = CASE sequence WHEN 2 THEN 3 ELSE 2 END
           WHERE sequence IN (2, 3)""",
    )
    found = await verify(pool)
    assert found and {v.kind for v in found} == {ViolationKind.REORDERED}
    assert {v.audit_id for v in found} >= {"a-2", "a-3"}


async def test_sql_forged_row_is_detected(pool: asyncpg.Pool, clock: FakeClock) -> None:
    await seeded(pool, clock)
    prev = await pool.fetchval("SELECT integrity_hash FROM audit.events WHERE sequence = 3")
    await tamper(
        pool,
        # Make room after sequence 3 (the constraint is checked at statement end) ...
        "UPDATE audit.events SET sequence = sequence + 1 WHERE sequence >= 4",
        # ... and slip in a row that links to 3 but was never sealed with the key.
        f"""INSERT INTO audit.events ({store._COLUMNS})
            SELECT partition, 4, 'forged', key_id, '{prev}', repeat('ab', 32), 'mallory',
                   actor_role, event_type, action, resource, resource_id, resident_id,
                   phi_accessed, compliance_context, break_glass, outcome, trace_id,
                   additional_context, occurred_at, recorded_at
            FROM audit.events WHERE sequence = 3""",
    )
    found = await verify(pool)
    inserted = [v for v in found if v.kind is ViolationKind.INSERTED]
    assert [(v.sequence, v.audit_id) for v in inserted] == [(4, "forged")]


async def test_sql_forged_row_at_the_end_is_detected(pool: asyncpg.Pool, clock: FakeClock) -> None:
    await seeded(pool, clock, 3)
    await tamper(
        pool,
        f"""INSERT INTO audit.events ({store._COLUMNS})
            SELECT partition, 4, 'forged', key_id, integrity_hash, repeat('cd', 32), 'mallory',
                   actor_role, event_type, action, resource, resource_id, resident_id,
                   phi_accessed, compliance_context, break_glass, outcome, trace_id,
                   additional_context, occurred_at, recorded_at
            FROM audit.events WHERE sequence = 3""",
    )
    found = await verify(pool)
    assert [(v.kind, v.sequence, v.audit_id) for v in found] == [
        (ViolationKind.INSERTED, 4, "forged")
    ]


async def test_concurrent_writers_keep_one_linear_chain(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    writers = [AuditWriter(pool, KEYS, clock=clock) for _ in range(4)]
    await asyncio.gather(
        *(
            w.append([make_event(100 * k + i) for i in range(10)])
            for k, w in enumerate(writers)
            for _ in range(1)
        )
    )
    seqs = [r["sequence"] for r in await pool.fetch("SELECT sequence FROM audit.events")]
    assert sorted(seqs) == list(range(1, 41))
    assert await verify(pool) == []


async def test_submit_batches_concurrent_records(pool: asyncpg.Pool, clock: FakeClock) -> None:
    writer = AuditWriter(pool, KEYS, clock=clock, linger=0.05)
    stored = await asyncio.gather(*(writer.submit(make_event(i)) for i in range(50)))
    await writer.close()
    assert sorted(s.sequence for s in stored) == list(range(1, 51))
    # Rows written by one transaction share xmin: the 50 concurrent records took one or
    # two transactions, not 50.
    assert await pool.fetchval("SELECT count(DISTINCT xmin::text) FROM audit.events") <= 2
    assert await verify(pool) == []


async def test_submit_fails_when_the_database_is_gone(pool: asyncpg.Pool, clock: FakeClock) -> None:
    writer = AuditWriter(pool, KEYS, clock=clock)
    await pool.close()
    with pytest.raises(asyncpg.InterfaceError):
        await writer.submit(make_event(1))


async def test_batched_throughput_beats_one_by_one(
    pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Measures records/s (printed; run with -s). Real clock: the point is wall time."""
    n = 400
    one = AuditWriter(pool, KEYS)
    start = time.perf_counter()
    for i in range(n):
        await one.append([make_event(i, audit_id=f"one-{i}")])
    single_rate = n / (time.perf_counter() - start)

    batched = AuditWriter(pool, KEYS, linger=0.005)
    start = time.perf_counter()
    await asyncio.gather(*(batched.submit(make_event(i, audit_id=f"b-{i}")) for i in range(n)))
    batch_rate = n / (time.perf_counter() - start)
    await batched.close()

    with capsys.disabled():
        print(
            f"\naudit append throughput: one-by-one {single_rate:.0f} records/s, "
            f"batched {batch_rate:.0f} records/s ({batch_rate / single_rate:.1f}x)"
        )
    assert batch_rate > 2 * single_rate
    events, _ = await store.read_partition(pool, store_partition_today())
    assert len(events) == 2 * n


def store_partition_today() -> str:
    from services.audit.logic import daily_partition

    return daily_partition(int(time.time() * 1_000_000))


# -- the one-statement append: heads checked by the database ------------------------------


@pytest.fixture
def append_statuses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each call of the one-statement append answered (ok / stale), in order."""
    statuses: list[str] = []
    append_sealed = store._append_sealed

    async def spy(*args: Any) -> tuple[str, dict[str, ChainHead]]:
        status, heads = await append_sealed(*args)
        statuses.append(status)
        return status, heads

    monkeypatch.setattr(store, "_append_sealed", spy)
    return statuses


async def test_writers_with_stale_head_caches_still_extend_one_chain(
    pool: asyncpg.Pool, clock: FakeClock, append_statuses: list[str]
) -> None:
    """Each writer (as in another process) seals against the head it last saw; the
    database refuses a stale head and the writer seals again after the current one."""
    a, b = AuditWriter(pool, KEYS, clock=clock), AuditWriter(pool, KEYS, clock=clock)
    await a.append([make_event(1), make_event(2)])
    await b.append([make_event(3)])  # b reads the head first: it has not seen it
    await a.append([make_event(4)])  # a still believes the head is at 2
    await b.append([make_event(5), make_event(6)])  # and b that it is at 3
    assert append_statuses == ["ok", "ok", "stale", "ok", "stale", "ok"]
    rows = await pool.fetch("SELECT audit_id, sequence FROM audit.events ORDER BY sequence")
    assert [(r["audit_id"], r["sequence"]) for r in rows] == [(f"a-{i}", i) for i in range(1, 7)]
    assert await verify(pool) == []


async def test_database_refuses_rows_that_do_not_continue_the_head(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    writer = await seeded(pool, clock, 3)
    _, head = await store.read_partition(pool, PARTITION)
    assert head is not None
    stale = {PARTITION: ChainHead(2, head.record_hash)}  # right hash, wrong place
    sealed = store._seal([writer._stamp(make_event(9))], [PARTITION], stale, KEYS)
    async with pool.acquire() as conn:
        status, heads = await store._append_sealed(conn, sealed, "")
    assert (status, heads) == ("stale", {PARTITION: head})
    assert await pool.fetchval("SELECT count(*) FROM audit.events") == 3
    assert await verify(pool) == []


@pytest.mark.parametrize(
    ("optimistic_attempts", "role"), [(store.OPTIMISTIC_ATTEMPTS, None), (0, WRITER_ROLE)]
)
async def test_concurrent_batching_writers_keep_one_linear_chain(
    pool: asyncpg.Pool,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    optimistic_attempts: int,
    role: str | None,
) -> None:
    """Four writers submitting at once, sealing optimistically or (0) always under the
    head lock (as the append-only role): every record lands once on one gap-free chain."""
    monkeypatch.setattr(store, "OPTIMISTIC_ATTEMPTS", optimistic_attempts)
    writers = [
        AuditWriter(pool, KEYS, clock=clock, linger=0.0, busy_linger=0.001, writer_role=role)
        for _ in range(4)
    ]
    stored = await asyncio.gather(
        *(w.submit(make_event(100 * k + i)) for i in range(25) for k, w in enumerate(writers))
    )
    for w in writers:
        await w.close()
    assert sorted(s.sequence for s in stored) == list(range(1, 101))
    assert len({s.data.audit_id for s in stored}) == 100
    assert await verify(pool) == []


async def test_writer_role_is_what_the_rows_are_written_as(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    """The role switch happens inside the append statement: a role that may not insert
    audit rows makes the append fail, and nothing is stored."""
    role = f"audit_reader_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        await pool.execute(f"GRANT USAGE ON SCHEMA audit TO {role}")
        await pool.execute(f"GRANT SELECT, INSERT, UPDATE ON audit.heads TO {role}")
        await pool.execute(f"GRANT SELECT ON audit.events TO {role}")
        writer = AuditWriter(pool, KEYS, clock=clock, writer_role=role)
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match="permission denied for table events"
        ):
            await writer.append([make_event(1)])
        assert await pool.fetchval("SELECT count(*) FROM audit.events") == 0
    finally:
        await pool.execute(f"DROP OWNED BY {role}")
        await pool.execute(f"DROP ROLE {role}")


async def test_busy_linger_never_delays_a_lone_caller(pool: asyncpg.Pool, clock: FakeClock) -> None:
    """``busy_linger`` only applies after a batch with company: one caller at a time is
    written at once, however long the linger (the guard below would fire otherwise)."""
    writer = AuditWriter(pool, KEYS, clock=clock, linger=0.0, busy_linger=3600.0)
    for i in range(1, 4):
        stored = await asyncio.wait_for(writer.submit(make_event(i)), timeout=10)
        assert stored.sequence == i
    await writer.close()
    assert await pool.fetchval("SELECT count(DISTINCT xmin::text) FROM audit.events") == 3


async def test_database_refuses_a_batch_with_a_gap(pool: asyncpg.Pool, clock: FakeClock) -> None:
    writer = AuditWriter(pool, KEYS, clock=clock)
    events = [writer._stamp(make_event(i)) for i in (1, 2)]
    first, second = store._seal(events, [PARTITION] * 2, {}, KEYS)
    gap = dataclasses.replace(second, sequence=3)  # rows 1 and 3: a gap at 2
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.DataError, match="not contiguous"):
            await store._append_sealed(conn, [first, gap], "")
    assert await pool.fetchval("SELECT count(*) FROM audit.events") == 0


async def test_a_batch_over_two_partitions_reseals_once_when_one_is_stale(
    pool: asyncpg.Pool, clock: FakeClock, append_statuses: list[str]
) -> None:
    """A stale answer carries every partition's current head, so one reseal suffices even
    when only one of the batch's partitions moved (e.g. a batch spanning midnight)."""

    def by_resident(e: AuditEventData) -> str:
        return f"p-{e.resident_id}"

    a = AuditWriter(pool, KEYS, clock=clock, partition_of=by_resident)
    b = AuditWriter(pool, KEYS, clock=clock, partition_of=by_resident)
    await a.append([make_event(1), make_event(2)])  # res-1 and res-0
    await b.append([make_event(3)])  # res-1 moves on behind a's back
    await a.append([make_event(4), make_event(5)])
    assert append_statuses == ["ok", "ok", "stale", "ok"]
    for partition, count in (("p-res-0", 2), ("p-res-1", 3)):
        events, head = await store.read_partition(pool, partition)
        assert [e.sequence for e in events] == list(range(1, count + 1))
        assert verify_chain([e.record() for e in events], KEYS.keys, expected_head=head) == []


async def test_events_queued_during_a_commit_share_the_next_one(
    pool: asyncpg.Pool, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: while one batch is being written, later events queue; when that
    commit returns they are written together (no linger involved), in order."""
    batches: list[int] = []
    committing, release = asyncio.Event(), asyncio.Event()
    append_sealed = store._append_sealed

    async def held_first(conn: Any, sealed: Any, role: str) -> Any:
        batches.append(len(sealed))
        if len(batches) == 1:
            committing.set()
            await release.wait()
        return await append_sealed(conn, sealed, role)

    monkeypatch.setattr(store, "_append_sealed", held_first)
    writer = AuditWriter(pool, KEYS, clock=clock, linger=0.0, busy_linger=0.0)
    first = writer.enqueue(make_event(1))
    await committing.wait()  # the first batch is in its commit
    later = [writer.enqueue(make_event(i)) for i in range(2, 12)]
    release.set()
    stored = await asyncio.gather(first, *later)
    await writer.close()
    assert batches == [1, 10]
    assert [s.sequence for s in stored] == list(range(1, 12))
    assert await verify(pool) == []


async def test_an_enqueued_event_is_written_even_if_its_waiter_gives_up(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    writer = AuditWriter(pool, KEYS, clock=clock, linger=0.0)
    future = writer.enqueue(make_event(1))
    future.cancel()
    await writer.close()
    assert await pool.fetchval("SELECT count(*) FROM audit.events") == 1
