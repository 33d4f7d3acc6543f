"""``python -m services.chat``: ChatService and ChatHubService in one process."""

from pathlib import Path

from mesh.runner import ServiceDeps, run
from services.chat.core import CRISIS_SERVICE, ChatCore, CrisisScreener
from services.chat.servicer import ChatHubServicer, ChatServicer
from services.chat.store import ChatStore


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None and deps.redis is not None
    core = ChatCore(
        ChatStore(deps.db),
        CrisisScreener(deps.client.channel(CRISIS_SERVICE)),
        deps.redis,
        deps.clock,
    )
    return [
        ChatServicer(core.store, core.screener, core.redis, deps.clock, core=core),
        ChatHubServicer(core),
    ]


if __name__ == "__main__":
    run(
        "chat",
        build,
        default_port=8002,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
        needs_redis=True,
    )
