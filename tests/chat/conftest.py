"""A chat stack on real PostgreSQL and Redis, with a fake CrisisService behind the mesh.

``FakeCrisis`` stands in for services/crisis (which was written in parallel) so the chat tests
can also make screening fail on demand: it is served through ``mesh.testing.serve``, found
by the real ``MeshClient``, and raises an alert for content containing "kill myself".
``test_chat_real_crisis.py`` runs the same path against the real CrisisService.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from grpc import aio
from lilo.crisis.v1 import crisis_service_pb2 as crisis_pb
from lilo.crisis.v1 import crisis_service_pb2_grpc as crisis_grpc
from lilo.safety.v1 import safety_service_pb2 as safety_pb

from mesh.client import MeshClient
from mesh.clock import FakeClock
from mesh.db import migrate
from mesh.registry import InMemoryRegistry
from mesh.server import MeshServer
from mesh.testing import TestIdentity, serve
from services.chat.core import CRISIS_SERVICE, ChatCore, CrisisScreener
from services.chat.servicer import ChatHubServicer, ChatServicer
from services.chat.store import ChatStore

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "chat" / "migrations"


class FakeCrisis(crisis_grpc.CrisisServiceServicer):
    def __init__(self) -> None:
        self.calls: list[crisis_pb.ScreenContentRequest] = []
        self.fail: grpc.StatusCode | None = None

    async def ScreenContent(
        self, request: crisis_pb.ScreenContentRequest, context: aio.ServicerContext[Any, Any]
    ) -> crisis_pb.ScreenContentResponse:
        self.calls.append(request)
        if self.fail is not None:
            await context.abort(self.fail, "screening told to fail")
        if "kill myself" in request.content.lower():
            return crisis_pb.ScreenContentResponse(
                analysis=safety_pb.AnalyzeContentResponse(
                    crisis_detected=True,
                    crisis_level=safety_pb.CRISIS_LEVEL_CRITICAL,
                    crisis_categories=[safety_pb.CRISIS_CATEGORY_SUICIDAL_IDEATION],
                    recommended_action=safety_pb.RECOMMENDED_ACTION_EMERGENCY_SERVICES,
                    escalation_required=True,
                ),
                alert=crisis_pb.Alert(alert_id=f"alert-{uuid.uuid4().hex[:8]}"),
            )
        return crisis_pb.ScreenContentResponse(
            analysis=safety_pb.AnalyzeContentResponse(
                crisis_level=safety_pb.CRISIS_LEVEL_NONE,
                recommended_action=safety_pb.RECOMMENDED_ACTION_CONTINUE,
            )
        )


@dataclass
class ChatStack:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    crisis: FakeCrisis
    clock: FakeClock
    identity: TestIdentity
    start_chat: Callable[..., Awaitable[tuple[MeshServer, ChatCore]]]


@pytest.fixture
async def chat_stack(fresh_database: str, redis_db_url: str) -> AsyncIterator[ChatStack]:
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=10)
        assert pool is not None
        stack.push_async_callback(pool.close)
        await migrate(pool, "chat", MIGRATIONS)
        redis = aioredis.Redis.from_url(redis_db_url)
        stack.push_async_callback(redis.aclose)
        registry = InMemoryRegistry()
        crisis = FakeCrisis()
        await stack.enter_async_context(serve([crisis], registry=registry))
        client = MeshClient(registry)
        stack.push_async_callback(client.close)
        channel = client.channel(CRISIS_SERVICE)
        await channel.wait_for_endpoints(1)
        clock = FakeClock()
        identity = TestIdentity()

        async def start_chat(*, real_access: bool = True) -> tuple[MeshServer, ChatCore]:
            """One chat instance (ChatService + hub) on the shared database and Redis."""
            core = ChatCore(ChatStore(pool), CrisisScreener(channel), redis, clock)
            server = await stack.enter_async_context(
                serve(
                    [
                        ChatServicer(core.store, core.screener, redis, clock, core=core),
                        ChatHubServicer(core),
                    ],
                    access=identity.access if real_access else None,
                )
            )
            return server, core

        yield ChatStack(pool, redis, crisis, clock, identity, start_chat)
