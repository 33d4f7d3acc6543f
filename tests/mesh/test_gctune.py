"""GC tuning: frozen start-up objects and a higher young threshold, in every served process.

Both tests run a child interpreter: freezing and re-tuning the collector would outlive a
test run in the pytest process itself.
"""

from __future__ import annotations

from pathlib import Path

from mesh.gctune import GC_YOUNG_THRESHOLD
from tests.mesh.runnerkit import run_python, runner_child_env


def _child(code: str, env: dict[str, str] | None = None) -> list[str]:
    done = run_python(code, env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_tune_gc_freezes_the_start_up_objects_and_raises_the_young_threshold() -> None:
    code = (
        "import gc, mesh.runner; from mesh.gctune import GC_YOUNG_THRESHOLD, tune_gc;"
        "old = gc.get_threshold(); tune_gc();"
        "print(gc.get_freeze_count() > 10_000,"
        " gc.get_threshold() == (GC_YOUNG_THRESHOLD, *old[1:]))"
    )
    assert _child(code) == ["True", "True"]


RUNNER_PROBE = """
import asyncio, gc, os, signal
import mesh.runner as runner
from services.echo.servicer import EchoServicer

built = []

async def build(deps):
    built.append(True)
    return [EchoServicer("probe")]

real_tune = runner.tune_gc

def spy():
    before = gc.get_threshold()[0]
    real_tune()
    print("TUNED", bool(built), before, gc.get_threshold()[0], gc.get_freeze_count() > 10_000)
    # Signal handlers are installed right after tuning: stop the service the normal way.
    asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

runner.tune_gc = spy
runner.run("echo", build, default_port=0)
"""


def test_a_runner_started_service_is_tuned_once_built_and_before_it_is_ready(
    tmp_path: Path,
) -> None:
    out = _child(RUNNER_PROBE, runner_child_env(tmp_path))
    tuned = out.index("TUNED")
    # Built first (its objects are frozen too), default threshold before, ours after, and
    # READY is printed only after tuning.
    assert out[tuned + 1 :][:4] == ["True", "700", str(GC_YOUNG_THRESHOLD), "True"]
    assert out.index("READY") > tuned
