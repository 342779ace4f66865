"""The Python SDK aicostmanager==0.3.2 (today's contract, POST /track), unmodified, against the
local AICostManager API.

Usage: interop_track.py API_BASE API_KEY WORK_DIR

API_BASE must be the local server on 127.0.0.1. Every setting the SDK reads (AICM_API_BASE,
AICM_INI_PATH, AICM_DB_PATH, AICM_LOG_FILE, HOME) points at the server or into WORK_DIR, proxy
variables are dropped, and an audit hook refuses any socket connection or name lookup that is
not loopback: the SDK cannot reach aicostmanager.com or anything else.

Sends, through the SDK's public API: immediate `track` (generated and given response ids,
customer_key, context, a datetime timestamp), one record with an unknown service key,
`track_batch` of three records, and three records through the persistent (SQLite) queue.
Then checks through /__records and /__stats that every known-key record is stored exactly once
with exactly the /track fields, the unknown key was answered `service_key_unknown` and not
stored, and nothing was rejected. Exits non-zero with a message on the first mismatch.
"""

import json
import os
import re
import sqlite3
import sys
import time
import urllib.request
from datetime import datetime, timezone

DEADLINE_S = 30.0
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
HEX32 = re.compile(r"^[0-9a-f]{32}$")
EPOCH = re.compile(r"^[0-9]+(\.[0-9]+)?$")
UNKNOWN_KEY = "nobody::nothing"

network_violations = []


class Mismatch(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def loopback_only(event, args):
    """Audit hook: refuse every non-loopback connection or lookup, whoever makes it."""
    if event == "socket.getaddrinfo":
        host = args[0].decode() if isinstance(args[0], bytes) else args[0]
        if host not in LOOPBACK_HOSTS:
            network_violations.append(f"getaddrinfo({host!r})")
            raise ConnectionRefusedError(f"interop: lookup of {host!r} refused (loopback only)")
    elif event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and address[0] not in LOOPBACK_HOSTS:
            network_violations.append(f"connect({address!r})")
            raise ConnectionRefusedError(f"interop: connect to {address!r} refused (loopback only)")


def isolate(api_base, work_dir):
    """Point every setting of the SDK at the local server or into ``work_dir``."""
    check(
        re.fullmatch(r"http://127\.0\.0\.1:[0-9]+", api_base) is not None,
        f"API_BASE must be http://127.0.0.1:PORT, got {api_base!r}",
    )
    for name in list(os.environ):
        if name.startswith("AICM_") or name.lower() in {
            "http_proxy", "https_proxy", "all_proxy", "no_proxy",
        }:
            del os.environ[name]
    os.environ.update(
        {
            "HOME": work_dir,  # the SDK's defaults under ~/.config and ~/.cache
            "NO_PROXY": "*",
            "AICM_API_BASE": api_base,
            "AICM_API_URL": "/api/v1",
            "AICM_INI_PATH": os.path.join(work_dir, "AICM.INI"),
            "AICM_DB_PATH": os.path.join(work_dir, "queue.db"),
            "AICM_LOG_FILE": os.path.join(work_dir, "aicm.log"),
            "AICM_LOG_LEVEL": "DEBUG",
            # Immediate delivery logs and swallows a failure by default; make it raise.
            "AICM_RAISE_ON_ERROR": "true",
        }
    )
    sys.addaudithook(loopback_only)


def control(api_base, path, body=None):
    """GET (or POST ``body``) a control endpoint and return its JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api_base + path, data=data, method="GET" if body is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_for_stats(api_base, done, what):
    """Poll /__stats until ``done(stats)`` holds, with a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        stats = control(api_base, "/__stats")
        if done(stats):
            return stats
        if time.monotonic() > deadline:
            raise Mismatch(f"timed out after {DEADLINE_S} s waiting for {what}; stats: {stats}")
        time.sleep(0.05)


def expect(service_key, usage, response_id, timestamp=None, customer_key=None, context=None):
    """One record the server must have stored: its /__records form, timestamp aside.

    ``timestamp`` is the exact text expected, or None for "the SDK's now, as epoch seconds".
    """
    record = {
        "config_id": "",
        "endpoint": "track",
        "service_id": service_key,
        "usage": usage,
        "response_id": response_id,
    }
    if customer_key is not None:
        record["client_customer_key"] = customer_key
    if context is not None:
        record["context"] = context
    return record, timestamp


def main():
    api_base, api_key, work_dir = sys.argv[1:4]
    isolate(api_base, work_dir)

    import aicostmanager
    from aicostmanager import Tracker

    check(aicostmanager.__version__ == "0.3.2", f"aicostmanager {aicostmanager.__version__} != 0.3.2")
    control(api_base, "/__reset", {})
    started = time.time()
    expected = []  # (record, timestamp)

    # 1. Immediate delivery: one POST /track per call, answered before track() returns.
    tracker = Tracker(aicm_api_key=api_key, ini_path=os.environ["AICM_INI_PATH"], delivery_type="IMMEDIATE")
    check(
        tracker.delivery._endpoint == api_base + "/api/v1/track",
        f"the SDK would post to {tracker.delivery._endpoint!r}",
    )
    usage = {"input_tokens": 10, "output_tokens": 20, "model": "gpt-4o-mini", "cached": False}
    answer = tracker.track(
        "openai::gpt-4o-mini", usage, customer_key="acme", context={"env": "interop", "run": 1}
    )
    result = answer["result"]
    check(result["status"] == "queued", f"immediate track answered {answer}")
    check(HEX32.match(result["response_id"]) is not None, f"generated response_id: {result}")
    expected.append(expect("openai::gpt-4o-mini", usage, result["response_id"],
                           customer_key="acme", context={"env": "interop", "run": 1}))

    usage = {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 0}
    when = datetime(2026, 10, 1, 12, 0, 0, tzinfo=timezone.utc)
    answer = tracker.track(
        "anthropic::claude-sonnet-4", usage, response_id="msg_interop_given_1", timestamp=when
    )
    check(answer["result"] == {"response_id": "msg_interop_given_1", "status": "queued"},
          f"immediate track with a given response_id answered {answer}")
    expected.append(expect("anthropic::claude-sonnet-4", usage, "msg_interop_given_1",
                           timestamp=str(when.timestamp())))

    answer = tracker.track(UNKNOWN_KEY, {"units": 1})
    result = answer["result"]
    check(result["status"] == "service_key_unknown", f"unknown service key answered {answer}")
    check(any(UNKNOWN_KEY in error for error in result.get("errors", [])),
          f"service_key_unknown without a message naming the key: {answer}")

    # 2. track_batch: one POST /track with three records, one result each.
    batch = [
        {"service_key": "openai::gpt-5-mini",
         "usage": {"input_tokens": 100, "output_tokens": 50, "reasoning_tokens": 12},
         "customer_key": "customer-2"},
        {"service_key": "google::gemini-2.5-flash",
         "usage": {"prompt_token_count": 3, "candidates_token_count": 4},
         "response_id": "gemini-interop-2",
         "context": {"tags": ["a", "b"], "nested": {"x": 1.5, "ok": True, "none": None}}},
        {"service_key": "internal::misc",
         "usage": {"anything": ["goes", 1, None], "deep": {"k": [{"v": 2}]}},
         "timestamp": "2026-10-02T08:30:00.250000+00:00"},
    ]
    data = tracker.track_batch(batch)
    results = data.get("results", [])
    check([r["status"] for r in results] == ["queued"] * 3, f"track_batch answered {data}")
    check(results[1]["response_id"] == "gemini-interop-2", f"track_batch answered {data}")
    for item, result in zip(batch, results):
        if "response_id" not in item:
            check(HEX32.match(result["response_id"]) is not None, f"generated response_id: {result}")
        timestamp = item.get("timestamp")
        if timestamp is not None:  # what 0.3.2 makes of an ISO string: epoch seconds
            timestamp = str(datetime.fromisoformat(timestamp).timestamp())
        expected.append(expect(item["service_key"], item["usage"], result["response_id"],
                               timestamp=timestamp, customer_key=item.get("customer_key"),
                               context=item.get("context")))
    tracker.close()

    stored_before_queue = len(expected)
    stats = control(api_base, "/__stats")
    check(stats["records_stored"] == stored_before_queue,
          f"after immediate delivery records_stored {stats['records_stored']} != {stored_before_queue}")

    # 3. The persistent queue: rows in an isolated SQLite file, sent by a background thread.
    queued = Tracker(aicm_api_key=api_key, ini_path=os.environ["AICM_INI_PATH"],
                     delivery_type="PERSISTENT_QUEUE")
    check(queued.delivery.db_path == os.environ["AICM_DB_PATH"],
          f"the queue is at {queued.delivery.db_path!r}, not in the work dir")
    check(queued.delivery._endpoint == api_base + "/api/v1/track",
          f"the SDK would post to {queued.delivery._endpoint!r}")
    queue_items = [
        ("openai::gpt-4o", {"input_tokens": 1, "output_tokens": 1}, {"customer_key": "acme"}),
        ("deepgram::nova-2", {"duration_seconds": 12.25, "channels": 2, "features": ["punctuate"]},
         {"context": {"call": "c-9"}}),
        ("internal::agent", {"steps": [{"a": 1}], "outcome": "done"},
         {"response_id": "agent-run-interop-3"}),
    ]
    for service_key, usage, options in queue_items:
        answer = queued.track(service_key, usage, **options)
        check(isinstance(answer, dict) and "response_id" in answer, f"queued track returned {answer}")
        expected.append(expect(service_key, usage, answer["response_id"],
                               customer_key=options.get("customer_key"), context=options.get("context")))
    wait_for_stats(api_base, lambda s: s["records_stored"] >= len(expected),
                   f"{len(queue_items)} records from the persistent queue")
    queued.close()
    with sqlite3.connect(f"file:{os.environ['AICM_DB_PATH']}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT status, COUNT(*) FROM queue GROUP BY status").fetchall()
    check(rows == [], f"the persistent queue still holds rows after close(): {rows}")

    # 4. What the server stored: each expected record exactly once, with exactly these fields.
    finished = time.time()
    records = control(api_base, "/__records")
    check(records["count"] == len(expected),
          f"/__records count {records['count']} != {len(expected)}: {json.dumps(records)}")
    by_id = {}
    for record in records["records"]:
        by_id.setdefault(record["response_id"], []).append(record)
    for want, want_timestamp in expected:
        got = by_id.get(want["response_id"], [])
        check(len(got) == 1, f"response_id {want['response_id']} stored {len(got)} times: {got}")
        got = dict(got[0])
        event_id = got.pop("event_id", None)
        timestamp = got.pop("timestamp", None)
        check(isinstance(event_id, str) and event_id, f"no event_id: {got}")
        check(got == want, f"stored record differs:\n  want {want}\n  got  {got}")
        if want_timestamp is None:
            check(EPOCH.match(timestamp or "") is not None
                  and started - 1 <= float(timestamp) <= finished + 1,
                  f"timestamp {timestamp!r} is not epoch seconds of this run ({want['response_id']})")
        else:
            check(timestamp == want_timestamp,
                  f"timestamp {timestamp!r} != {want_timestamp!r} ({want['response_id']})")
    check(not any(r["service_id"] == UNKNOWN_KEY for r in records["records"]),
          f"the unknown service key was stored: {records}")

    # 5. The server's counters: nothing but POST /track, nothing rejected.
    stats = control(api_base, "/__stats")
    want_stats = {
        "records_stored": len(expected),
        "records_service_key_unknown": 1,
        "records_error": 0,
        "rejected_requests": 0,
        "rejected_records": 0,
        "duplicates": 0,
        "unauthorized": 0,
        "config_requests": 0,
        "track_usage_requests": 0,
        "triggered_limits_requests": 0,
        "last_authorized": True,
        "last_user_agent": "aicostmanager-python",
    }
    wrong = {k: (stats.get(k), v) for k, v in want_stats.items() if stats.get(k) != v}
    check(not wrong, f"/__stats (got, want): {wrong}; all: {stats}")
    # 3 immediate tracks + 1 batch + at least one queue batch; every API request was one of them.
    check(stats["track_endpoint_requests"] >= 5, f"track_endpoint_requests: {stats}")
    check(stats["requests"] == stats["track_endpoint_requests"] == stats["accepted_requests"],
          f"requests other than accepted POST /track: {stats}")
    check(not network_violations, f"the SDK tried to leave loopback: {network_violations}")
    print("python interop (aicostmanager 0.3.2, POST /track): ok", json.dumps(stats))


if __name__ == "__main__":
    try:
        main()
    except Mismatch as error:
        sys.exit(f"interop_track: {error}")
