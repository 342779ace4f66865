#!/usr/bin/env bash
# Clients nobody on this team wrote: two releases of the Python SDK aicostmanager, unmodified,
# against the local AICostManager API binary (aicm-local-api).
#
#   tests/python/interop.sh [0.1.15] [0.3.2]      (no argument: both, in that order)
#
#   0.1.15  the config-based contract (GET /configs, POST /track-usage): interop.py against a
#           server started with the default protocol, then a look at /__stats.
#   0.3.2   today's contract (POST /track): interop_track.py against a server started with
#           --protocol track, so the SDK is shown to need nothing but /track. It checks
#           /__records and /__stats itself.
#
# Each version gets its own venv (tests/python/.venv and tests/python/.venv-0.3.2, gitignored),
# created on first use. Builds the binary unless AICM_LOCAL_API_BIN names one, starts a fresh
# server on a free loopback port per version, runs the program, and stops the server. The SDKs
# are only ever pointed at that server. Exits non-zero on any failure. Needs python3 (3.9+) with
# venv and pip, cargo, and access to PyPI the first time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
configs="$repo/tests/fixtures/configs.json"

log() { printf 'interop: %s\n' "$*" >&2; }

# A venv at $1 holding exactly aicostmanager==$2.
ensure_sdk() {
  local venv="$1" version="$2"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    "$python" -m venv "$venv"
  fi
  if ! "$venv/bin/python" - "$version" <<'EOF' 2>/dev/null; then
import importlib.metadata, sys
sys.exit(importlib.metadata.version("aicostmanager") != sys.argv[1])
EOF
    log "installing aicostmanager==$version"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aicostmanager==$version"
  fi
}

# The server binary, into $bin.
build_server() {
  bin="${AICM_LOCAL_API_BIN:-}"
  if [ -z "$bin" ]; then
    log "building aicm-local-api"
    (cd "$repo" && cargo build --quiet -p aicm-tests --bin aicm-local-api)
    local target_dir
    target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
      "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    bin="$target_dir/debug/aicm-local-api"
  fi
}

work="$(mktemp -d)"
server_pid=""
server_log=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  # Not `exec 3<&- 2>/dev/null`: with exec, that redirection would silence the rest of the script.
  { exec 3<&-; } 2>/dev/null || true
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

# Start the server with --protocol $1 on a free port, logging into the directory $2; sets
# $api_base and $server_log. Its first stdout line names the address. A FIFO lets us read that
# line as soon as it is written, with a timeout, and without polling.
start_server() {
  local protocol="$1" dir="$2" first_line
  server_log="$dir/server.log"
  mkfifo "$dir/stdout"
  "$bin" --port 0 --configs "$configs" --protocol "$protocol" >"$dir/stdout" 2>"$server_log" &
  server_pid=$!
  exec 3<"$dir/stdout"
  if ! IFS= read -r -t 60 first_line <&3; then
    log "the server printed no address within 60 s"
    cat "$server_log" >&2
    exit 1
  fi
  if [[ ! "$first_line" =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]]; then
    log "unexpected first line: $first_line"
    exit 1
  fi
  api_base="${BASH_REMATCH[1]}"
  log "server at $api_base (--protocol $protocol, pid $server_pid)"
}

# Print $1's name and the server log, then fail.
program_failed() {
  log "$1 failed; server log:"
  cat "$server_log" >&2
  exit 1
}

api_key="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' "$configs")"

# aicostmanager 0.1.15: the config-based contract, default protocol (both contracts served).
run_0_1_15() {
  local venv="$here/.venv" dir="$work/0.1.15"
  ensure_sdk "$venv" 0.1.15
  mkdir -p "$dir"
  start_server both "$dir"
  # The Python program, then an independent look at the server's counters.
  "$venv/bin/python" "$here/interop.py" "$api_base" "$api_key" "$dir" ||
    program_failed interop.py
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
  stop_server
  log "aicostmanager 0.1.15: ok"
}

# aicostmanager 0.3.2: today's contract, a server that serves POST /track only.
run_0_3_2() {
  local venv="$here/.venv-0.3.2" dir="$work/0.3.2"
  ensure_sdk "$venv" 0.3.2
  mkdir -p "$dir"
  start_server track "$dir"
  if ! "$venv/bin/python" "$here/interop_track.py" "$api_base" "$api_key" "$dir"; then
    if [ -f "$dir/aicm.log" ]; then
      log "the SDK's log (aicm.log):"
      tail -n 40 "$dir/aicm.log" >&2
    fi
    program_failed interop_track.py
  fi
  stop_server
  log "aicostmanager 0.3.2: ok"
}

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(0.1.15 0.3.2)
for version in "${versions[@]}"; do
  case "$version" in
    0.1.15 | 0.3.2) ;;
    *) log "unknown version $version (expected 0.1.15 or 0.3.2)"; exit 2 ;;
  esac
done
build_server
for version in "${versions[@]}"; do
  "run_${version//./_}"
done
log "ok"
