"""``meshctl``: what operators reach for instead of grpcurl + redis-cli.

    meshctl services                         services with instance counts
    meshctl instances SERVICE                address, health, version, zone, weight, breaker
    meshctl watch SERVICE                    membership changes, live
    meshctl call SERVICE/METHOD [JSON]       any rpc by name via server reflection (streams too)
    meshctl alerts [--cursor C]              tail the crisis feed
    meshctl drain SERVICE INSTANCE           drain one instance gracefully
    meshctl verify-audit [--partition P]     check the audit hash chain

Tables for people, ``--json`` for scripts. Exit codes: 0 ok, 1 the rpc failed
(its status is printed), 2 usage or configuration error, 3 not found or unreachable.

Where to find the mesh: ``--registry`` / ``REDIS_URL``, else the ``mesh.env`` file
``scripts/up`` writes in its state directory. Credentials: ``--token`` /
``LILO_TOKEN``, else ``operator.token`` in the state directory. The mesh's mTLS
certificate for meshctl: ``LILO_TLS_CA``/``LILO_TLS_CERT``/``LILO_TLS_KEY``, else the
same names in ``mesh.env``; none means plaintext.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

EXIT_OK, EXIT_RPC, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 3


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def state_dir() -> Path:
    return Path(os.environ.get("LILO_STATE_DIR", Path(__file__).resolve().parents[2] / ".state"))


def state_env() -> dict[str, str]:
    path = state_dir() / "mesh.env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def registry_url(args: argparse.Namespace) -> str:
    url = (
        args.registry
        or os.environ.get("LILO_REGISTRY_URL")
        or os.environ.get("REDIS_URL")
        or state_env().get("REDIS_URL")
    )
    if not url:
        raise CliError("no registry: pass --registry redis://... or set REDIS_URL", EXIT_USAGE)
    return url


def tls_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """mTLS credentials for the running mesh, or None when it runs in plaintext.

    ``mesh.env``'s files belong to the mesh it describes: they are used only when the
    registry comes from there too (no ``--registry`` / ``REDIS_URL``).
    """
    source: dict[str, str] = {}
    if os.environ.get("LILO_TLS_CA"):
        source = dict(os.environ)
    elif not args.registry and not (
        os.environ.get("LILO_REGISTRY_URL") or os.environ.get("REDIS_URL")
    ):
        source = state_env()
    ca = source.get("LILO_TLS_CA", "")
    if not ca:
        return None
    try:
        cert, key = source.get("LILO_TLS_CERT", ""), source.get("LILO_TLS_KEY", "")
        return grpc.ssl_channel_credentials(
            root_certificates=Path(ca).read_bytes(),
            private_key=Path(key).read_bytes() if key else None,
            certificate_chain=Path(cert).read_bytes() if cert else None,
        )
    except OSError as exc:
        raise CliError(f"cannot read the mesh's TLS files: {exc}", EXIT_USAGE) from None


def token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    if os.environ.get("LILO_TOKEN"):
        return os.environ["LILO_TOKEN"]
    path = state_dir() / "operator.token"
    return path.read_text().strip() if path.exists() else ""


def metadata(args: argparse.Namespace) -> list[tuple[str, str]]:
    tok = token(args)
    return [("authorization", f"Bearer {tok}")] if tok else []


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def out(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if args.json:
        print(json.dumps(rows, indent=None))
    elif rows:
        print(table(rows, columns))
    else:
        print("(none)")


async def _registry(args: argparse.Namespace) -> Any:
    from mesh.registry.redis import RedisRegistry

    return RedisRegistry.from_url(registry_url(args))


async def cmd_services(args: argparse.Namespace) -> int:
    from mesh.errors import RegistryUnavailable

    registry = await _registry(args)
    try:
        rows = []
        for name in await registry.list_services():
            instances = await registry.list_instances(name)
            rows.append(
                {
                    "service": name,
                    "instances": len(instances),
                    "serving": sum(i.serving for i in instances),
                }
            )
    except RegistryUnavailable as exc:
        raise CliError(f"registry unreachable: {exc}", EXIT_NOT_FOUND) from None
    finally:
        await registry.close()
    out(args, rows, ["service", "instances", "serving"])
    return EXIT_OK


async def _health(address: str, service: str, creds: grpc.ChannelCredentials | None) -> str:
    channel = (
        grpc.aio.secure_channel(address, creds) if creds else grpc.aio.insecure_channel(address)
    )
    async with channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2
            )
        except grpc.aio.AioRpcError as exc:
            return f"unreachable ({exc.code().name})"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


async def cmd_instances(args: argparse.Namespace) -> int:
    from mesh.breaker import EndpointBreaker

    registry = await _registry(args)
    try:
        records = await registry.list_instances(args.service)
    finally:
        await registry.close()
    if not records:
        raise CliError(f"no live instances of {args.service}", EXIT_NOT_FOUND)
    rows = []
    for record in records:
        health = await _health(record.address, args.service, tls_credentials(args))
        # meshctl's own probe: a failed health check counts against a fresh breaker.
        breaker = EndpointBreaker(record.address, fail_max=1)
        if health.startswith("unreachable"):
            breaker.trip()
        rows.append(
            {
                "instance": record.instance_id,
                "address": record.address,
                "status": record.status.value,
                "health": health,
                "version": record.version,
                "zone": record.zone,
                "weight": record.weight,
                "breaker": breaker.state,
            }
        )
    out(
        args,
        rows,
        ["instance", "address", "status", "health", "version", "zone", "weight", "breaker"],
    )
    return EXIT_OK


async def cmd_watch(args: argparse.Namespace) -> int:
    registry = await _registry(args)
    before: dict[str, str] = {}
    seen = 0
    try:
        async for snapshot in registry.watch(args.service):
            now = {r.instance_id: f"{r.address} {r.status.value}" for r in snapshot.instances}
            events = [
                {"event": "joined", "instance": k, "detail": v}
                for k, v in now.items()
                if k not in before
            ]
            events += [
                {"event": "left", "instance": k, "detail": v}
                for k, v in before.items()
                if k not in now
            ]
            events += [
                {"event": "changed", "instance": k, "detail": v}
                for k, v in now.items()
                if k in before and before[k] != v
            ]
            if not snapshot.connected:
                events.append(
                    {"event": "registry-unreachable", "instance": "", "detail": "keeping last set"}
                )
            for event in events:
                print(
                    json.dumps(event)
                    if args.json
                    else f"{event['event']:<10} {event['instance']} {event['detail']}",
                    flush=True,
                )
            before = now
            seen += 1
            if args.count and seen >= args.count:
                break
    finally:
        await registry.close()
    return EXIT_OK


def _pick_address(args: argparse.Namespace, service: str) -> str:
    if args.address:
        return str(args.address)

    async def find() -> str:
        registry = await _registry(args)
        try:
            records = [r for r in await registry.list_instances(service) if r.serving]
        finally:
            await registry.close()
        if not records:
            raise CliError(f"no serving instance of {service}", EXIT_NOT_FOUND)
        return str(records[0].address)

    return asyncio.run(find())


def call_rpc(args: argparse.Namespace, target: str, body: str) -> int:
    """Call ``package.Service/Method`` with JSON in and out, resolving types by reflection."""
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    service, _, method_name = target.partition("/")
    if not method_name:
        raise CliError("name the rpc as package.Service/Method", EXIT_USAGE)
    address = _pick_address(args, service)
    creds = tls_credentials(args)
    sync_channel = grpc.secure_channel(address, creds) if creds else grpc.insecure_channel(address)
    with sync_channel as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        try:
            method = pool.FindServiceByName(service).methods_by_name[method_name]
        except KeyError:
            raise CliError(f"{target} is not served at {address}", EXIT_NOT_FOUND) from None
        except grpc.RpcError as exc:  # e.g. a TLS mesh reached without its certificate
            code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
            raise CliError(f"{address} unreachable ({code})", EXIT_NOT_FOUND) from None
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        try:
            request = json_format.Parse(body or "{}", request_cls())
        except json_format.ParseError as exc:
            raise CliError(f"bad request JSON: {exc}", EXIT_USAGE) from None
        path = f"/{service}/{method_name}"
        kwargs: dict[str, Any] = {"metadata": metadata(args)}
        if args.timeout:
            kwargs["timeout"] = args.timeout
        try:
            if method.client_streaming:
                raise CliError("client-streaming rpcs are not callable from meshctl", EXIT_USAGE)
            if method.server_streaming:
                stream = channel.unary_stream(
                    path,
                    request_serializer=request_cls.SerializeToString,
                    response_deserializer=response_cls.FromString,
                )(request, **kwargs)
                for sent, reply in enumerate(stream, start=1):
                    print(_json(reply, args), flush=True)
                    if args.count and sent >= args.count:
                        stream.cancel()
                        break
            else:
                reply = channel.unary_unary(
                    path,
                    request_serializer=request_cls.SerializeToString,
                    response_deserializer=response_cls.FromString,
                )(request, **kwargs)
                print(_json(reply, args, indent=not args.json))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and args.count is not None:
                return EXIT_OK
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return EXIT_RPC
    return EXIT_OK


def _json(message: Any, args: argparse.Namespace, indent: bool = False) -> str:
    return json.dumps(
        json_format.MessageToDict(message, always_print_fields_with_no_presence=True),
        indent=2 if indent else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meshctl", description="Operate a Lilo mesh.")
    parser.add_argument("--registry", help="redis:// URL of the discovery registry")
    parser.add_argument("--token", help="bearer token (default: LILO_TOKEN or the state dir)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("services", help="list services")
    p = sub.add_parser("instances", help="list instances of a service")
    p.add_argument("service")
    p = sub.add_parser("watch", help="watch membership changes")
    p.add_argument("service")
    p.add_argument("--count", type=int, default=0, help="stop after N snapshots")
    p = sub.add_parser("call", help="call an rpc by name with JSON")
    p.add_argument("rpc", help="package.Service/Method")
    p.add_argument("body", nargs="?", default="{}")
    p.add_argument("--address", help="call this instance instead of one from discovery")
    p.add_argument("--timeout", type=float, default=0)
    p.add_argument("--count", type=int, default=None, help="stop a stream after N messages")
    p = sub.add_parser("alerts", help="tail the crisis feed")
    p.add_argument("--cursor", default="", help="resume after this cursor")
    p.add_argument("--replay-all", action="store_true")
    p.add_argument("--address")
    p.add_argument("--count", type=int, default=None)
    p = sub.add_parser("drain", help="drain an instance")
    p.add_argument("service")
    p.add_argument("instance")
    p = sub.add_parser("verify-audit", help="verify the audit hash chain")
    p.add_argument("--partition", default="")
    p.add_argument("--address")
    args = parser.parse_args(argv)
    args.timeout = getattr(args, "timeout", 0)
    try:
        if args.command == "services":
            return asyncio.run(cmd_services(args))
        if args.command == "instances":
            return asyncio.run(cmd_instances(args))
        if args.command == "watch":
            return asyncio.run(cmd_watch(args))
        if args.command == "call":
            return call_rpc(args, args.rpc, args.body)
        if args.command == "alerts":
            body = json.dumps({"resumeCursor": args.cursor, "replayAll": args.replay_all})
            return call_rpc(args, "lilo.crisis.v1.CrisisService/WatchAlerts", body)
        if args.command == "drain":
            registry_records = asyncio.run(_records(args, args.service))
            match = [r for r in registry_records if r.instance_id == args.instance]
            if not match:
                raise CliError(f"no instance {args.instance} of {args.service}", EXIT_NOT_FOUND)
            args.address, args.count = match[0].address, None
            body = json.dumps({"service": args.service, "instanceId": args.instance})
            return call_rpc(args, "lilo.discovery.v1.DiscoveryService/Drain", body)
        if args.command == "verify-audit":
            args.count = None
            return call_rpc(
                args,
                "lilo.audit.v1.AuditService/VerifyChain",
                json.dumps({"partition": args.partition}),
            )
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # piped into head(1) and the reader left: not an error
        sys.stderr.close()
        return EXIT_OK
    return EXIT_USAGE


async def _records(args: argparse.Namespace, service: str) -> list[Any]:
    registry = await _registry(args)
    try:
        return list(await registry.list_instances(service))
    finally:
        await registry.close()


if __name__ == "__main__":
    raise SystemExit(main())
