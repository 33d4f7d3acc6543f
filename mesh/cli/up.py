"""``scripts/up``: run the whole mesh on this machine with one command.

Starts embedded Redis and PostgreSQL when ``REDIS_URL`` / ``DATABASE_URL`` are not
given, then every built service (several instances where that shows the mesh at
work; auth first, because it publishes the keys the others verify tokens with),
the gateway and its operator console; seeds a demo organisation; prints where to
point a browser and a gRPC client. Ctrl-C (or SIGTERM) drains and stops
everything in reverse order, then the embedded servers. If the launcher itself is
killed without a chance to do that (SIGKILL, an OOM kill), ``mesh.reaper``'s watchdog
sends every child it started SIGTERM, as Ctrl-C would, and the embedded servers' own
watchdog stops those: nothing is left running.

The mesh runs with mTLS: a fresh development CA (``mesh.tls.DevCA``, its key never
written to disk) issues one certificate per service, named as the service runs
(its trusted-caller row), plus one for the gateway and one for meshctl. Services
serve with theirs and present it on every outgoing call, so calls without a user
token carry the service identity; the gateway's calls carry the user's JWT over
its own mTLS channel. ``--no-mtls`` runs everything in plaintext instead.

State (database files, logs, keys) lives in ``$LILO_STATE_DIR`` (default
``.state/`` in the repository).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mesh.reaper import Watchdog
from mesh.tls import DevCA, Issued
from services.catalog import CATALOG, ServiceSpec, by_name

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0


@dataclass
class Child:
    label: str
    proc: asyncio.subprocess.Process
    log: Path
    address: str = ""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None


class Launcher:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state = Path(args.state_dir).resolve()
        self.logs = self.state / "logs"
        self.children: list[Child] = []
        self.embedded: list[object] = []
        self.env = dict(os.environ)
        self.stopping = asyncio.Event()
        self.ca: DevCA | None = None
        self.certs: dict[str, Issued] = {}
        self.watchdog = Watchdog()  # stops the children if this process is SIGKILLed

    def say(self, text: str) -> None:
        print(text, flush=True)

    # -- infrastructure --------------------------------------------------------------

    def start_backing_servers(self) -> None:
        from mesh.embedded import EmbeddedPostgres, EmbeddedRedis

        if not self.env.get("REDIS_URL"):
            t = time.monotonic()
            redis = EmbeddedRedis(self.state / "redis").start()
            self.embedded.append(redis)
            self.env["REDIS_URL"] = redis.url
            self.say(f"  ok  embedded Redis       {redis.url}  ({time.monotonic() - t:.1f} s)")
        else:
            self.say(f"  ok  Redis (given)        {self.env['REDIS_URL']}")
        if not self.env.get("DATABASE_URL"):
            t = time.monotonic()
            pg = EmbeddedPostgres(self.state / "postgres").start()
            self.embedded.append(pg)
            self.env["DATABASE_URL"] = pg.url
            self.say(f"  ok  embedded PostgreSQL  {pg.url}  ({time.monotonic() - t:.1f} s)")
        else:
            self.say("  ok  PostgreSQL (given)")

    def prepare_secrets(self) -> None:
        secrets_file = self.state / "secrets.json"
        if secrets_file.exists():
            stored = json.loads(secrets_file.read_text())
        else:
            stored = {
                "audit_hmac_key": secrets.token_hex(32),
                "auth_secret_key": base64.b64encode(secrets.token_bytes(32)).decode(),
            }
            secrets_file.write_text(json.dumps(stored))
            secrets_file.chmod(0o600)
        self.env.setdefault("LILO_AUDIT_HMAC_KEY", stored["audit_hmac_key"])
        if "auth_secret_key" in stored:
            self.env.setdefault("LILO_AUTH_SECRET_KEY", stored["auth_secret_key"])
        # The auth service seeds the demo organisation itself (idempotent), with its own key.
        self.env.setdefault("LILO_AUTH_SEED_DEMO", "1")
        self.env.setdefault("LILO_JWKS_FILE", str(self.state / "jwks.json"))
        self.env.setdefault("LILO_STATE_DIR", str(self.state))
        self.env["PYTHONUNBUFFERED"] = "1"

    def prepare_tls(self, specs: list[ServiceSpec]) -> None:
        """A new CA for this run and a certificate for every identity that will call."""
        for name in [k for k in self.env if k.startswith("LILO_TLS_")]:
            del self.env[name]  # children get exactly the files issued below, or none
        if self.args.no_mtls:
            self.say("  --  mTLS off (--no-mtls): services talk in plaintext")
            return
        started = time.monotonic()
        self.ca = DevCA(self.state / "tls")
        for name in [s.service_identity for s in specs] + ["gateway", "meshctl"]:
            self.certs[name] = self.ca.issue(name)
        self.say(
            f"  ok  mTLS: dev CA + {len(self.certs)} certificates in {self.ca.directory}"
            f"  ({time.monotonic() - started:.1f} s)"
        )

    def tls_env(self, identity: str, *, serves: bool) -> dict[str, str]:
        """What ``mesh.runner`` / the gateway read to use ``identity``'s certificate."""
        if self.ca is None:
            return {}
        issued = self.certs[identity]
        env = {
            "LILO_TLS_CERT": str(issued.cert_file),
            "LILO_TLS_KEY": str(issued.key_file),
            "LILO_TLS_CA": str(self.ca.ca_file),
        }
        if serves:
            env["LILO_TLS_CLIENT_CA"] = str(self.ca.ca_file)  # callers must present a cert
        return env

    def write_mesh_env(self) -> None:
        """meshctl and later sessions find the running mesh (and meshctl's cert) here."""
        keys = ("REDIS_URL", "DATABASE_URL", "LILO_JWKS_FILE")
        pairs = {k: self.env[k] for k in keys}
        pairs.update(self.tls_env("meshctl", serves=False))
        (self.state / "mesh.env").write_text("".join(f"{k}={v}\n" for k, v in pairs.items()))

    def write_dev_keys(self) -> str:
        """Without the auth service, sign a local operator token so the mesh is usable."""
        from mesh.identity.principal import Principal, Role
        from mesh.identity.tokens import KeySet
        from mesh.runner import AUDIENCE, ISSUER

        keys = KeySet(ISSUER, AUDIENCE, time.time(), max_ttl=12 * 3600, default_ttl=12 * 3600)
        Path(self.env["LILO_JWKS_FILE"]).write_text(json.dumps(keys.jwks()))
        operator = Principal.user("operator", Role.SYSTEM, organization_id="demo", mfa=True)
        return keys.issue(operator, time.time())

    # -- children --------------------------------------------------------------------

    async def spawn(self, label: str, module: str, env: dict[str, str]) -> Child:
        log = self.logs / f"{label}.log"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops children in order
        )
        await asyncio.to_thread(self.watchdog.watch, proc.pid, signal.SIGTERM)
        child = Child(label, proc, log)
        child.reader = asyncio.ensure_future(self._pump(child))
        self.children.append(child)
        return child

    async def _pump(self, child: Child) -> None:
        assert child.proc.stdout is not None
        with child.log.open("ab") as out:
            async for line in child.proc.stdout:
                out.write(line)
                out.flush()
                text = line.decode(errors="replace").strip()
                if text.startswith("READY "):
                    child.address = text.split()[-1]
                    child.ready.set()

    async def wait_ready(self, child: Child) -> None:
        started = time.monotonic()
        waiter = asyncio.ensure_future(child.ready.wait())
        exited = asyncio.ensure_future(child.proc.wait())
        done, _ = await asyncio.wait(
            {waiter, exited}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        exited.cancel()
        if waiter not in done or not child.ready.is_set():
            tail = "\n".join(child.log.read_text(errors="replace").splitlines()[-25:])
            why = "exited" if child.proc.returncode is not None else "did not become ready"
            raise RuntimeError(f"{child.label} {why}; log {child.log}:\n{tail}")
        self.say(f"  ok  {child.label:<22} {child.address}  ({time.monotonic() - started:.1f} s)")

    async def start_service(self, spec: ServiceSpec) -> list[Child]:
        count = self.args.instances or spec.instances
        out = []
        for i in range(count):
            env = dict(self.env, **self.tls_env(spec.service_identity, serves=True))
            env["LILO_PORT"] = str(spec.port if i == 0 else 0)
            env["LILO_INSTANCE_ID"] = f"{spec.name}-{i + 1}"
            out.append(await self.spawn(f"{spec.name}-{i + 1}", spec.module, env))
        await asyncio.gather(*(self.wait_ready(c) for c in out))
        return out

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            specs = by_name(self.args.services)
        except ValueError as exc:
            self.say(f"error: {exc}")
            return 2
        self.say(f"Lilo Mesh: state in {self.state}")
        try:
            await asyncio.to_thread(self.start_backing_servers)
            self.prepare_secrets()
            missing = [s.name for s in specs if not s.built()]
            specs = [s for s in specs if s.built()]
            if missing:
                self.say(f"  --  not built yet (skipped): {', '.join(missing)}")
            self.prepare_tls(specs)
            self.write_mesh_env()
            operator_token = ""
            auth = [s for s in specs if s.name == "auth"]
            if auth:
                await self.start_service(auth[0])
                self.say("  ok  demo organisation seeded by auth (docs/services/auth.md)")
            else:
                operator_token = self.write_dev_keys()
            rest = [s for s in specs if s.name != "auth"]
            await asyncio.gather(*(self.start_service(s) for s in rest))
            gateway = None
            if not self.args.no_gateway and _module_exists("gateway_rest.__main__"):
                env = dict(
                    self.env,
                    LILO_GATEWAY_PORT=str(self.args.gateway_port),
                    **self.tls_env("gateway", serves=False),
                )
                gateway = await self.spawn("gateway", "gateway_rest", env)
                await self.wait_ready(gateway)
            self.banner(gateway, operator_token)
            await self.watch_children()
            return 0
        except RuntimeError as exc:
            self.say(f"\nFAILED: {exc}")
            return 1
        except Exception as exc:  # an infrastructure step failed: say which and why
            self.say(f"\nFAILED while starting the mesh: {type(exc).__name__}: {exc}")
            return 1
        finally:
            await self.shutdown()

    def banner(self, gateway: Child | None, operator_token: str) -> None:
        self.say("")
        if gateway is not None:
            url = f"http://{gateway.address}"
            self.say(f"Browser / REST:  {url}   (console {url}/console, API docs {url}/docs)")
        address = self.children[0].address
        if self.ca is None:
            self.say(f"gRPC:            any instance above, e.g. grpcurl -plaintext {address} list")
        else:
            tls = self.certs["meshctl"]
            self.say(
                "gRPC (mTLS):     any instance above, e.g. "
                f"grpcurl -cacert {self.ca.ca_file} -cert {tls.cert_file} -key {tls.key_file}"
                f" {address} list"
            )
        self.say("meshctl:         .venv/bin/meshctl services")
        self.say("Demo users:      see docs/services/auth.md (seeded by this run)")
        if operator_token:
            token_file = self.state / "operator.token"
            token_file.write_text(operator_token)
            self.say(f"Operator token:  {token_file} (auth service not running)")
        self.say("Ctrl-C drains and stops everything.")

    async def watch_children(self) -> None:
        exits = {asyncio.ensure_future(c.proc.wait()): c for c in self.children}
        stop = asyncio.ensure_future(self.stopping.wait())
        done, _ = await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in exits:
                child = exits[task]
                self.say(f"\n{child.label} exited with {child.proc.returncode}; log: {child.log}")
        stop.cancel()
        for task in exits:
            task.cancel()

    async def shutdown(self) -> None:
        if self.children:
            self.say("\nstopping: draining services...")
        for child in reversed(self.children):  # gateway first, auth last
            if child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                await asyncio.wait_for(child.proc.wait(), 20)
            except TimeoutError:
                self.say(f"  {child.label} did not drain in time; killing")
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                await child.proc.wait()
            self.watchdog.unwatch(child.proc.pid)
            if child.reader is not None:
                with contextlib.suppress(Exception):
                    await child.reader
        await asyncio.to_thread(self.watchdog.close)
        for server in reversed(self.embedded):
            await asyncio.to_thread(server.stop)  # type: ignore[attr-defined]
        if self.children or self.embedded:
            self.say("stopped.")


def _module_exists(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/up", description=__doc__.split("\n")[0])
    parser.add_argument("--services", help="comma-separated subset, e.g. auth,safety,crisis")
    parser.add_argument("--instances", type=int, default=0, help="instances of every service")
    parser.add_argument(
        "--state-dir", default=os.environ.get("LILO_STATE_DIR", str(ROOT / ".state"))
    )
    parser.add_argument(
        "--gateway-port", type=int, default=int(os.environ.get("LILO_GATEWAY_PORT", 8090))
    )
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument(
        "--no-mtls", action="store_true", help="plaintext between services (no service identity)"
    )
    parser.add_argument("--list", action="store_true", help="list the services and exit")
    args = parser.parse_args(argv)
    if args.list:
        for spec in CATALOG:
            state = "built" if spec.built() else "not built"
            print(f"{spec.name:<14} port {spec.port:<5} x{spec.instances}  {state}")
        return 0
    return asyncio.run(Launcher(args).run())


if __name__ == "__main__":
    raise SystemExit(main())
