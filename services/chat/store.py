"""asyncpg adapter for the ``chat`` schema: SQL only, times passed in by the caller."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class ConversationRow:
    conversation_id: uuid.UUID
    resident_id: str
    created_by: str
    type: int
    title: str
    started_at: dt.datetime
    last_active_at: dt.datetime
    last_sequence: int


@dataclass(frozen=True)
class Safety:
    crisis_detected: bool = False
    crisis_level: int = 0
    crisis_categories: tuple[int, ...] = ()
    phi_detected: bool = False
    recommended_action: int = 0


@dataclass(frozen=True)
class MessageRow:
    conversation_id: uuid.UUID
    sequence: int
    message_id: uuid.UUID
    sender_id: str
    sender_role: int
    content: str
    client_message_id: str
    created_at: dt.datetime
    safety: Safety
    alert_id: str


@dataclass(frozen=True)
class NewMessage:
    conversation_id: uuid.UUID
    resident_id: str
    sender_id: str
    sender_role: int
    content: str
    client_message_id: str
    safety: Safety
    alert_id: str


@dataclass(frozen=True)
class DayCounts:
    day: dt.date
    conversation_count: int
    total_messages: int
    crisis_incidents: int


_COLUMNS = (
    "conversation_id", "sequence", "message_id", "sender_id", "sender_role", "content",
    "client_message_id", "created_at", "crisis_detected", "crisis_level", "crisis_categories",
    "phi_detected", "recommended_action", "alert_id",
)  # fmt: skip
_MESSAGE_COLUMNS = ", ".join(_COLUMNS)
_M_COLUMNS = ", ".join(f"m.{c}" for c in _COLUMNS)


def _conversation(row: asyncpg.Record) -> ConversationRow:
    return ConversationRow(**dict(row))


def _message(row: asyncpg.Record) -> MessageRow:
    return MessageRow(
        conversation_id=row["conversation_id"],
        sequence=row["sequence"],
        message_id=row["message_id"],
        sender_id=row["sender_id"],
        sender_role=row["sender_role"],
        content=row["content"],
        client_message_id=row["client_message_id"],
        created_at=row["created_at"],
        safety=Safety(
            crisis_detected=row["crisis_detected"],
            crisis_level=row["crisis_level"],
            crisis_categories=tuple(row["crisis_categories"]),
            phi_detected=row["phi_detected"],
            recommended_action=row["recommended_action"],
        ),
        alert_id=row["alert_id"],
    )


class ChatStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_conversation(
        self, *, resident_id: str, created_by: str, type: int, title: str, now: dt.datetime
    ) -> ConversationRow:
        row = await self._pool.fetchrow(
            """INSERT INTO chat.conversations
                   (conversation_id, resident_id, created_by, type, title, started_at,
                    last_active_at)
               VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *""",
            uuid.uuid4(),
            resident_id,
            created_by,
            type,
            title,
            now,
        )
        assert row is not None
        return _conversation(row)

    async def get_conversation(self, conversation_id: uuid.UUID) -> ConversationRow | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM chat.conversations WHERE conversation_id = $1", conversation_id
        )
        return _conversation(row) if row else None

    async def list_conversations(
        self,
        *,
        resident_ids: Sequence[str] | None,
        types: Sequence[int],
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[ConversationRow]:
        """Most recently active first; ``resident_ids`` None means every resident."""
        rows = await self._pool.fetch(
            """SELECT * FROM chat.conversations
               WHERE ($1::text[] IS NULL OR resident_id = ANY($1))
                 AND (cardinality($2::smallint[]) = 0 OR type = ANY($2))
                 AND ($3::timestamptz IS NULL
                      OR (last_active_at, conversation_id) < ($3, $4::uuid))
               ORDER BY last_active_at DESC, conversation_id DESC
               LIMIT $5""",
            list(resident_ids) if resident_ids is not None else None,
            list(types),
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [_conversation(r) for r in rows]

    async def find_by_client_id(
        self, conversation_id: uuid.UUID, sender_id: str, client_message_id: str
    ) -> MessageRow | None:
        row = await self._pool.fetchrow(
            f"""SELECT {_M_COLUMNS} FROM chat.message_keys k
                JOIN chat.messages m ON m.conversation_id = k.conversation_id
                 AND m.sequence = k.sequence AND m.created_at = k.created_at
                WHERE k.conversation_id = $1 AND k.sender_id = $2 AND k.client_message_id = $3""",
            conversation_id,
            sender_id,
            client_message_id,
        )
        return _message(row) if row else None

    async def append(self, new: NewMessage, now: dt.datetime) -> tuple[MessageRow, bool]:
        """Store ``new`` with the next sequence; return (message, deduplicated).

        One transaction: claim the client id, bump the conversation counter (its row lock
        orders concurrent appends), insert the message, count it in the day's analytics.
        A concurrent append with the same client id waits on the key and then returns the
        first message.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                """INSERT INTO chat.message_keys
                       (conversation_id, sender_id, client_message_id, sequence, created_at)
                   VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING RETURNING true""",
                new.conversation_id,
                new.sender_id,
                new.client_message_id,
                now,
            )
            if not claimed:
                row = await conn.fetchrow(
                    f"""SELECT {_M_COLUMNS}
                        FROM chat.message_keys k JOIN chat.messages m
                          ON m.conversation_id = k.conversation_id
                         AND m.sequence = k.sequence AND m.created_at = k.created_at
                        WHERE k.conversation_id = $1 AND k.sender_id = $2
                          AND k.client_message_id = $3""",
                    new.conversation_id,
                    new.sender_id,
                    new.client_message_id,
                )
                assert row is not None
                return _message(row), True
            sequence = await conn.fetchval(
                """UPDATE chat.conversations
                   SET last_sequence = last_sequence + 1,
                       last_active_at = GREATEST(last_active_at, $2)
                   WHERE conversation_id = $1 RETURNING last_sequence""",
                new.conversation_id,
                now,
            )
            await conn.execute(
                """UPDATE chat.message_keys SET sequence = $4
                   WHERE conversation_id = $1 AND sender_id = $2 AND client_message_id = $3""",
                new.conversation_id,
                new.sender_id,
                new.client_message_id,
                sequence,
            )
            s = new.safety
            row = await conn.fetchrow(
                f"""INSERT INTO chat.messages ({_MESSAGE_COLUMNS})
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                    RETURNING {_MESSAGE_COLUMNS}""",
                new.conversation_id,
                sequence,
                uuid.uuid4(),
                new.sender_id,
                new.sender_role,
                new.content,
                new.client_message_id,
                now,
                s.crisis_detected,
                s.crisis_level,
                list(s.crisis_categories),
                s.phi_detected,
                s.recommended_action,
                new.alert_id,
            )
            assert row is not None
            day = now.astimezone(dt.UTC).date()
            first_today = await conn.fetchval(
                """INSERT INTO chat.daily_conversations (resident_id, day, conversation_id)
                   VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true""",
                new.resident_id,
                day,
                new.conversation_id,
            )
            await conn.execute(
                """INSERT INTO chat.daily_analytics AS a
                       (resident_id, day, conversation_count, total_messages, crisis_incidents)
                   VALUES ($1, $2, $3, 1, $4)
                   ON CONFLICT (resident_id, day) DO UPDATE SET
                       conversation_count = a.conversation_count + EXCLUDED.conversation_count,
                       total_messages = a.total_messages + 1,
                       crisis_incidents = a.crisis_incidents + EXCLUDED.crisis_incidents""",
                new.resident_id,
                day,
                1 if first_today else 0,
                1 if new.alert_id else 0,
            )
            return _message(row), False

    async def list_messages(
        self, conversation_id: uuid.UUID, before: int | None, limit: int
    ) -> list[MessageRow]:
        """Newest first, sequences below ``before`` (all when None)."""
        rows = await self._pool.fetch(
            f"""SELECT {_MESSAGE_COLUMNS} FROM chat.messages
                WHERE conversation_id = $1 AND ($2::bigint IS NULL OR sequence < $2)
                ORDER BY sequence DESC LIMIT $3""",
            conversation_id,
            before,
            limit,
        )
        return [_message(r) for r in rows]

    async def messages_between(
        self, conversation_id: uuid.UUID, after: int, before: int | None, limit: int = 500
    ) -> list[MessageRow]:
        """Oldest first, ``after < sequence < before`` (no upper bound when None)."""
        rows = await self._pool.fetch(
            f"""SELECT {_MESSAGE_COLUMNS} FROM chat.messages
                WHERE conversation_id = $1 AND sequence > $2
                  AND ($3::bigint IS NULL OR sequence < $3)
                ORDER BY sequence ASC LIMIT $4""",
            conversation_id,
            after,
            before,
            limit,
        )
        return [_message(r) for r in rows]

    async def daily_counts(
        self, resident_id: str, first: dt.date, last: dt.date
    ) -> list[DayCounts]:
        rows = await self._pool.fetch(
            """SELECT day, conversation_count, total_messages, crisis_incidents
               FROM chat.daily_analytics
               WHERE resident_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day""",
            resident_id,
            first,
            last,
        )
        return [DayCounts(**dict(r)) for r in rows]
