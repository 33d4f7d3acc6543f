"""Chat against the REAL CrisisService (services/crisis), found through the mesh client.

The crisis service screens in-process (its rule detector) when no safety service is given,
stores the alert in its own schema and returns it; chat must store the message with that
verdict and hand back the alert id. The resident's token is forwarded, so the crisis
service authorises the screening as the resident (content.submit, own).
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from grpc import aio
from lilo.chat.v1 import chat_service_pb2 as pb
from lilo.chat.v1 import chat_service_pb2_grpc as pb_grpc

from mesh.client import MeshClient
from mesh.clock import FakeClock
from mesh.db import migrate
from mesh.registry import InMemoryRegistry
from mesh.testing import TestIdentity, serve
from services.chat.core import CRISIS_SERVICE, ChatCore, CrisisScreener
from services.chat.servicer import ChatServicer
from services.chat.store import ChatStore

crisis_app = pytest.importorskip("services.crisis.app")
crisis_config = pytest.importorskip("services.crisis.config")

ROOT = Path(__file__).resolve().parents[2]


async def test_crisis_message_raises_a_real_alert(fresh_database: str, redis_db_url: str) -> None:
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=10)
        assert pool is not None
        stack.push_async_callback(pool.close)
        await migrate(pool, "chat", ROOT / "services" / "chat" / "migrations")
        await migrate(pool, "crisis", ROOT / "services" / "crisis" / "migrations")
        redis = aioredis.Redis.from_url(redis_db_url)
        stack.push_async_callback(redis.aclose)
        clock, identity, registry = FakeClock(), TestIdentity(), InMemoryRegistry()

        config = crisis_config.CrisisConfig(channel=f"lilo:crisis:test:{uuid.uuid4().hex}")
        crisis = crisis_app.assemble(pool, redis, config=config, clock=clock, notifiers=[])
        crisis.bus.start()
        stack.push_async_callback(crisis.close)
        await stack.enter_async_context(
            serve([crisis.servicer], registry=registry, access=identity.access)
        )
        client = MeshClient(registry)
        stack.push_async_callback(client.close)
        channel = client.channel(CRISIS_SERVICE)
        await channel.wait_for_endpoints(1)

        core = ChatCore(ChatStore(pool), CrisisScreener(channel), redis, clock)
        chat = await stack.enter_async_context(
            serve(
                [ChatServicer(core.store, core.screener, redis, clock, core=core)],
                access=identity.access,
            )
        )
        md = identity.bearer("resident", "res-1")
        async with aio.insecure_channel(chat.address) as ch:
            stub = pb_grpc.ChatServiceStub(ch)
            conv = await stub.CreateConversation(
                pb.CreateConversationRequest(resident_id="res-1"), metadata=md
            )
            cid = conv.conversation.conversation_id
            calm = await stub.AppendMessage(
                pb.AppendMessageRequest(
                    conversation_id=cid,
                    content="The garden looks lovely today",
                    client_message_id="a",
                ),
                metadata=md,
            )
            crisis_msg = await stub.AppendMessage(
                pb.AppendMessageRequest(
                    conversation_id=cid,
                    content="I want to kill myself tonight",
                    client_message_id="b",
                ),
                metadata=md,
            )
        assert calm.alert_id == "" and not calm.message.safety.crisis_detected
        assert crisis_msg.alert_id != ""
        assert crisis_msg.message.safety.crisis_detected
        stored = await pool.fetchval("SELECT alert_id FROM chat.messages WHERE sequence = 2")
        assert stored == crisis_msg.alert_id
