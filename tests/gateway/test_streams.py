"""Server streams as SSE and NDJSON, and client/bidi streams over WebSocket, against the real
echo backend; SSE reconnection and WebSockets go through a real uvicorn socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from lilo.echo.v1 import echo_service_pb2 as pb
from websockets.exceptions import ConnectionClosed

from gateway_rest.config import GatewayConfig
from mesh.testing import TestIdentity
from tests.gateway.gwkit import echo_env, live_server, until

SSE = {"Accept": "text/event-stream"}


def parse_sse(text: str) -> tuple[list[dict[str, str]], list[str]]:
    """Events (fields by name) and comment lines of an SSE body."""
    events: list[dict[str, str]] = []
    comments: list[str] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line:
                name, _, value = line.partition(":")
                event[name] = value.removeprefix(" ")
        if event:
            events.append(event)
    return events, comments


async def test_ndjson_framing_one_result_per_line() -> None:
    async with echo_env() as env:
        r = await env.http.get("/v1/echo:stream", params={"payload": "p", "count": 3})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.text.endswith("\n")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines == [
        {"result": {"index": i, "payload": "p", "instanceId": "echo-1"}} for i in (1, 2, 3)
    ]


async def test_ndjson_error_is_the_last_line() -> None:
    ident = TestIdentity()
    async with echo_env(access=ident.access) as env:
        r = await env.http.get("/v1/echo:stream", params={"count": 3})
    assert r.status_code == 200  # the stream had begun; the status travels in-band
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 1
    assert lines[0]["error"]["code"] == 16


async def test_sse_events_carry_resume_cursor_and_end() -> None:
    async with echo_env() as env:
        r = await env.http.get("/v1/echo:stream", params={"payload": "s", "count": 3}, headers=SSE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events, _ = parse_sse(r.text)
    assert [e.get("id") for e in events[:3]] == ["1", "2", "3"]
    assert all(e["event"] == "message" for e in events[:3])
    assert json.loads(events[0]["data"]) == {"index": 1, "payload": "s", "instanceId": "echo-1"}
    assert events[3]["event"] == "end"
    assert len(events) == 4


async def test_sse_error_event_carries_status() -> None:
    ident = TestIdentity()
    async with echo_env(access=ident.access) as env:
        r = await env.http.get("/v1/echo:stream", params={"count": 2}, headers=SSE)
    events, _ = parse_sse(r.text)
    assert len(events) == 1
    assert events[0]["event"] == "error"
    assert json.loads(events[0]["data"])["code"] == 16


async def test_sse_access_token_query_parameter_authenticates() -> None:
    ident = TestIdentity()
    token = ident.bearer("system")[0][1].removeprefix("Bearer ")
    async with echo_env(access=ident.access) as env:
        r = await env.http.get(
            "/v1/echo:stream", params={"count": 2, "access_token": token}, headers=SSE
        )
    events, _ = parse_sse(r.text)
    assert [e["event"] for e in events] == ["message", "message", "end"]
    assert env.echo.seen[-1]["authorization"] == f"Bearer {token}"


async def test_sse_sends_keepalive_comments_while_idle() -> None:
    async with echo_env(config=GatewayConfig(sse_keepalive_s=0.02)) as env:
        r = await env.http.get(
            "/v1/echo:stream", params={"count": 2, "intervalMs": 300}, headers=SSE
        )
    events, comments = parse_sse(r.text)
    assert [e["event"] for e in events] == ["message", "message", "end"]
    assert "keep-alive" in comments


async def _read_events(response: httpx.Response, n: int) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk.replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            parsed, _ = parse_sse(block + "\n\n")
            events.extend(e for e in parsed if e.get("event") == "message")
            if len(events) >= n:
                return events
    return events


async def test_sse_reconnect_with_last_event_id_misses_nothing_and_disconnect_cancels() -> None:
    async with echo_env() as env, live_server(env.app) as address:
        url = f"http://{address}/v1/echo:stream"
        params: dict[str, str | int] = {"payload": "r", "count": 1000, "intervalMs": 5}
        async with httpx.AsyncClient(timeout=10) as client:
            async with client.stream("GET", url, params=params, headers=SSE) as first:
                got = await _read_events(first, 2)
            # The browser went away: the gateway must cancel the gRPC stream.
            await asyncio.wait_for(env.echo.stream_cancelled.wait(), 5)
            last_id = got[-1]["id"]
            async with client.stream(
                "GET", url, params=params, headers={**SSE, "Last-Event-ID": last_id}
            ) as second:
                more = await _read_events(second, 3)
    assert [e["id"] for e in got] == ["1", "2"]
    assert [e["id"] for e in more] == ["3", "4", "5"]
    assert [json.loads(e["data"])["index"] for e in more] == [3, 4, 5]
    assert not env.gateway.pumps  # nothing left running


async def test_last_event_id_overrides_the_resume_query_parameter() -> None:
    async with echo_env() as env:
        r = await env.http.get(
            "/v1/echo:stream",
            params={"count": 4, "resumeAfter": 1},
            headers={**SSE, "Last-Event-ID": "3"},
        )
    events, _ = parse_sse(r.text)
    assert [e.get("id") for e in events if e["event"] == "message"] == ["4"]


async def test_websocket_bidi_echo_json_and_binary() -> None:
    async with (
        echo_env() as env,
        live_server(env.app) as address,
        websockets.connect(f"ws://{address}/v1/echo:bidi") as ws,
    ):
        for word in ("a", "b", "c"):
            await ws.send(json.dumps({"payload": word}))
        replies = [json.loads(await ws.recv()) for _ in range(3)]
        await ws.send(pb.EchoBidiRequest(payload="bin").SerializeToString())
        binary = await ws.recv()
        await ws.send("EOF")
        try:
            await ws.recv()
            raise AssertionError("expected the gateway to close")
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            close = (closed.rcvd.code, closed.rcvd.reason)
    assert [r["payload"] for r in replies] == ["a", "b", "c"]
    assert replies[0]["instanceId"] == "echo-1"
    assert isinstance(binary, bytes)
    assert pb.EchoBidiResponse.FromString(binary).payload == "bin"
    assert close == (1000, "")


async def _close_of(ws: Any) -> tuple[int, str]:
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, closed.rcvd.reason


async def test_websocket_close_codes_carry_grpc_status() -> None:
    ident = TestIdentity()
    token = ident.bearer("system")[0][1].removeprefix("Bearer ")
    async with echo_env(access=ident.access) as env, live_server(env.app) as address:
        async with websockets.connect(f"ws://{address}/v1/echo:bidi") as ws:
            await ws.send(json.dumps({"payload": "x"}))
            unauthenticated = await _close_of(ws)
        async with websockets.connect(f"ws://{address}/v1/echo:bidi?access_token={token}") as ws:
            await ws.send(json.dumps({"payload": "ok"}))
            by_query = json.loads(await ws.recv())
            await ws.send(json.dumps({"payload": 5, "bogus": 1}))
            invalid = await _close_of(ws)
        async with websockets.connect(
            f"ws://{address}/v1/echo:bidi",
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as ws:
            await ws.send(json.dumps({"payload": "hdr"}))
            by_header = json.loads(await ws.recv())
        async with websockets.connect(f"ws://{address}/v1/nothing:here") as ws:
            missing = await _close_of(ws)
    assert unauthenticated[0] == 4016 and unauthenticated[1]
    assert by_query["payload"] == "ok" and by_header["payload"] == "hdr"
    assert invalid[0] == 4003 and "bogus" in invalid[1]
    assert missing[0] == 4005


class SlowBrowser:
    """An ASGI WebSocket peer that sends frames but does not read until ``gate`` opens."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbound.put_nowait({"type": "websocket.connect"})
        self.gate = asyncio.Event()
        self.received: list[str] = []
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    async def receive(self) -> dict[str, Any]:
        return await self.inbound.get()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await self.gate.wait()  # the browser is not reading: the gateway's send blocks
            self.received.append(message["text"])
        elif message["type"] == "websocket.close":
            self.closed.set_result((message["code"], message.get("reason", "")))


async def test_websocket_backpressure_queue_stays_bounded() -> None:
    """A client that sends but does not read: the gateway fills its bounded queue, then stops
    reading from gRPC instead of buffering; once the client reads, every reply arrives."""
    queue_size = 4
    count = 50
    config = GatewayConfig(ws_queue_size=queue_size)
    async with echo_env(config=config) as env:
        browser = SlowBrowser()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/v1/echo:bidi",
            "raw_path": b"/v1/echo:bidi",
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "client": ("127.0.0.1", 50001),
            "server": ("gw", 80),
            "subprotocols": [],
        }
        app_task = asyncio.create_task(env.app(scope, browser.receive, browser.send))  # type: ignore[arg-type]
        for i in range(count):
            browser.inbound.put_nowait(
                {"type": "websocket.receive", "text": json.dumps({"payload": str(i)})}
            )
        await asyncio.wait_for(_first_pump(env), 5)
        pump = next(iter(env.gateway.pumps))
        await asyncio.wait_for(pump.saturated.wait(), 10)
        assert pump.queue.maxsize == queue_size
        assert pump.queue.qsize() == queue_size
        assert browser.received == []
        browser.gate.set()
        browser.inbound.put_nowait({"type": "websocket.receive", "text": "EOF"})
        close = await asyncio.wait_for(browser.closed, 10)
        await asyncio.wait_for(app_task, 10)
    assert [json.loads(t)["payload"] for t in browser.received] == [str(i) for i in range(count)]
    assert pump.high_water <= queue_size
    assert close == (1000, "")


async def _first_pump(env: Any) -> None:
    await until(lambda: bool(env.gateway.pumps), what="the stream to start")
