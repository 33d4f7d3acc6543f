"""``python -m gateway_rest``: run the REST gateway on 127.0.0.1.

Environment: ``LILO_REGISTRY_URL`` or ``REDIS_URL`` (discovery; default in-memory),
``LILO_GATEWAY_PORT`` (default 8090, 0 picks a free port), ``LILO_CORS_ORIGINS``,
``LILO_GATEWAY_DEFAULT_TIMEOUT`` and the other settings of ``GatewayConfig.from_env``,
``LILO_DESCRIPTOR_SET`` (default generated/descriptor_set.binpb), ``LILO_LOG_LEVEL``;
``LILO_TLS_CA`` with ``LILO_TLS_CERT``/``LILO_TLS_KEY`` call the services over mTLS with
the gateway's own certificate (``mesh.config.client_tls_from_env``; the user's JWT still
decides what a call may do).

Prints ``READY gateway 127.0.0.1:PORT`` on stdout once the socket listens (scripts/up waits
for it). SIGTERM and SIGINT stop accepting, let open requests finish, run the lifespan
shutdown (closing the mesh client) and exit 0. Bad configuration exits 2. Runs on uvloop
unless ``LILO_EVENT_LOOP=asyncio`` (``mesh.eventloop``), as the services do.
"""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn

from gateway_rest.app import DEFAULT_DESCRIPTOR_SET, create_app
from gateway_rest.config import GatewayConfig, port_from_env
from mesh import eventloop
from mesh.client import ClientConfig
from mesh.config import client_tls_from_env, locality_config_from_env, registry_url_from_env
from mesh.errors import ConfigError
from mesh.gctune import tune_gc
from mesh.registry import registry_from_url
from mesh.telemetry import configure_logging


async def serve() -> int:
    try:
        config = GatewayConfig.from_env()
        port = port_from_env()
        tls = client_tls_from_env()
        locality = locality_config_from_env()
    except (ValueError, ConfigError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    registry = registry_from_url(registry_url_from_env())
    app = create_app(
        registry=registry,
        descriptor_set_path=os.environ.get("LILO_DESCRIPTOR_SET", str(DEFAULT_DESCRIPTOR_SET)),
        config=config,
        client_config=ClientConfig(default_timeout=None, tls=tls, locality=locality),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,  # keep the mesh's JSON logging
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())  # uvicorn installs SIGTERM/SIGINT handlers
    try:
        while not server.started:
            if task.done():
                return 1  # could not bind or lifespan failed; uvicorn logged why
            await asyncio.sleep(0.02)
        tune_gc()  # after start-up: the route table and descriptors are frozen out of GC
        bound = server.servers[0].sockets[0].getsockname()[1]
        print(f"READY gateway 127.0.0.1:{bound}", flush=True)
        await task
        return 0
    finally:
        await registry.close()


def main() -> None:
    configure_logging(os.environ.get("LILO_LOG_LEVEL", "INFO"))
    try:
        sys.exit(eventloop.run(serve))
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
