"""meshctl against a running mesh: real servers, real Redis, real reflection."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack

import pytest

from mesh.cli import meshctl
from mesh.config import ServerConfig
from mesh.identity.principal import Principal, Role
from mesh.registry.redis import RedisRegistry
from mesh.testing import TestIdentity, serve
from services.echo.servicer import EchoServicer

ECHO = "lilo.echo.v1.EchoService"


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(meshctl.main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_meshctl_operates_a_running_mesh(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ident = TestIdentity()
    token = ident.token(Principal.user("op", Role.SYSTEM, organization_id="org-1", mfa=True))
    # meshctl uses the default prefix; give this test its own Redis db instead.
    url = redis_url.rsplit("/", 1)[0] + "/3"
    registry = RedisRegistry.from_url(url, prefix="lilo:disco")
    await registry._redis.flushdb()
    base = ["--registry", url, "--token", token]
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(
                serve(
                    [EchoServicer(f"e{i}")],
                    registry=registry,
                    access=ident.access,
                    config=ServerConfig(instance_id=f"e{i}", version="1.2.3", zone="z1"),
                )
            )
            for i in range(2)
        ]
        code, out, _ = await run(capsys, *base, "services")
        assert code == 0 and ECHO in out

        code, out, _ = await run(capsys, *base, "--json", "instances", ECHO)
        rows = json.loads(out)
        assert code == 0 and {r["instance"] for r in rows} == {"e0", "e1"}
        assert {r["health"] for r in rows} == {"SERVING"} and rows[0]["version"] == "1.2.3"

        code, out, _ = await run(capsys, *base, "call", f"{ECHO}/Echo", '{"payload": "hi"}')
        assert code == 0 and json.loads(out)["payload"] == "hi"

        code, out, _ = await run(capsys, *base, "call", f"{ECHO}/EchoStream", '{"count": 3}')
        assert code == 0 and [json.loads(x)["index"] for x in out.splitlines()] == [1, 2, 3]

        code, _, err = await run(capsys, "--registry", url, "call", f"{ECHO}/Echo", "{}")
        assert code == meshctl.EXIT_RPC and "UNAUTHENTICATED" in err

        code, _, err = await run(capsys, *base, "call", f"{ECHO}/Echo", '{"nope": 1}')
        assert code == meshctl.EXIT_USAGE and "bad request JSON" in err

        code, _, err = await run(capsys, *base, "instances", "lilo.none.v1.NoService")
        assert code == meshctl.EXIT_NOT_FOUND

        code, _, _ = await run(capsys, *base, "drain", ECHO, "e0")
        assert code == 0
        await asyncio.wait_for(servers[0].wait_stopped(), 10)
        code, out, _ = await run(capsys, *base, "--json", "instances", ECHO)
        assert [r["instance"] for r in json.loads(out)] == ["e1"]
    await registry.close()
