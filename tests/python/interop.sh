#!/usr/bin/env bash
# A client nobody on this team wrote: the Python SDK aicostmanager==0.1.15, unmodified,
# against the local AICostManager API binary (aicm-local-api).
#
#   tests/python/interop.sh
#
# Creates tests/python/.venv (gitignored) on first use, builds the binary unless
# AICM_LOCAL_API_BIN names one, starts it on a free port, runs interop.py, checks /__stats,
# and stops the server. Exits non-zero on any failure. Needs python3 (3.9+) with venv and
# pip, cargo, and access to PyPI the first time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
sdk_version="0.1.15"

log() { printf 'interop: %s\n' "$*" >&2; }

# 1. The Python SDK in a venv, at exactly the version under test.
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" - "$sdk_version" <<'EOF' 2>/dev/null; then
import importlib.metadata, sys
sys.exit(importlib.metadata.version("aicostmanager") != sys.argv[1])
EOF
  log "installing aicostmanager==$sdk_version"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aicostmanager==$sdk_version"
fi

# 2. The server binary.
bin="${AICM_LOCAL_API_BIN:-}"
if [ -z "$bin" ]; then
  log "building aicm-local-api"
  (cd "$repo" && cargo build --quiet -p aicm-tests --bin aicm-local-api)
  target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  bin="$target_dir/debug/aicm-local-api"
fi

# 3. Start it on a free port; its first stdout line names the address. A FIFO lets us read
#    that line as soon as it is written, with a timeout, and without polling.
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  exec 3<&- 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/stdout"
"$bin" --port 0 --configs "$repo/tests/fixtures/configs.json" >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
exec 3<"$work/stdout"
if ! IFS= read -r -t 60 first_line <&3; then
  log "the server printed no address within 60 s"
  cat "$work/server.log" >&2
  exit 1
fi
if [[ ! "$first_line" =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]]; then
  log "unexpected first line: $first_line"
  exit 1
fi
api_base="${BASH_REMATCH[1]}"
api_key="$("$venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' \
  "$repo/tests/fixtures/configs.json")"
log "server at $api_base (pid $server_pid)"

# 4. The Python program, then an independent look at the server's counters.
if ! "$venv/bin/python" "$here/interop.py" "$api_base" "$api_key" "$work"; then
  log "python program failed; server log:"
  cat "$work/server.log" >&2
  exit 1
fi
"$venv/bin/python" - "$api_base" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/__stats", timeout=10) as response:
    stats = json.load(response)
problems = []
if stats["records_stored"] != 3:
    problems.append(f"records_stored {stats['records_stored']} != 3")
if stats["rejected_requests"] != 0:
    problems.append(f"rejected_requests {stats['rejected_requests']} != 0")
if stats["last_authorized"] is not True:
    problems.append("last request was not authorized")
if problems:
    sys.exit("interop: /__stats: " + "; ".join(problems) + f" ({stats})")
EOF
log "ok"
