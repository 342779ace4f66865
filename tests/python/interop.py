"""The Python SDK aicostmanager==0.1.15, unmodified, against the local AICostManager API.

Usage: interop.py API_BASE API_KEY WORK_DIR
Exits non-zero (AssertionError or any exception) on the first failure.
"""

import configparser
import json
import os
import sys
import time
import urllib.request

from aicostmanager import Tracker, UsageValidationError

DEADLINE_S = 30.0


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
            raise AssertionError(f"timed out waiting for {what}; stats: {stats}")
        time.sleep(0.05)


def main():
    api_base, api_key, work_dir = sys.argv[1:4]
    ini_path = os.path.join(work_dir, "AICM.INI")
    control(api_base, "/__reset", {})
    options = dict(aicm_api_key=api_key, aicm_api_base=api_base, aicm_ini_path=ini_path)

    # 1. The tracker loads its config: verified token, schema in file order.
    tracker = Tracker("chat-completions", "openai::gpt-4o-mini", **options)
    assert list(tracker.manual_usage_schema.items()) == [
        ("input_tokens", "int"),
        ("output_tokens", "int"),
        ("model", "str"),
        ("cached", "bool"),
        ("latency_ms", "Optional[float]"),
    ], tracker.manual_usage_schema

    # 2. Invalid usage raises the SDK's own UsageValidationError (nothing is sent).
    try:
        tracker.track({"input_tokens": "ten", "model": "m", "cached": False, "colour": "red"})
    except UsageValidationError as error:
        assert error.missing_fields == ["output_tokens"], error.missing_fields
        assert "input_tokens" in error.errors, error.errors
        assert error.extra_fields == ["colour"], error.extra_fields
    else:
        raise AssertionError("invalid usage was accepted")

    # 3. Valid records are delivered and stored.
    tracker.track({"input_tokens": 10, "output_tokens": 3, "model": "gpt-4o-mini", "cached": False})
    tracker.track(
        {"input_tokens": 1, "output_tokens": 2, "model": "m", "cached": True, "latency_ms": 12.5},
        client_customer_key="customer-1",
        context={"request": "abc"},
    )
    free = Tracker("free-form", "internal::misc", **options)
    free.track({"anything": ["goes", 1, None]})
    stats = wait_for_stats(api_base, lambda s: s["records_stored"] >= 3, "3 stored records")
    tracker.close()
    free.close()

    assert stats["records_stored"] == 3, stats
    assert stats["rejected_requests"] == 0, stats
    assert stats["duplicates"] == 0, stats
    assert stats["unauthorized"] == 0, stats
    assert stats["last_user_agent"] == "aicostmanager-python", stats
    records = control(api_base, "/__records")
    assert records["count"] == 3, records
    by_config = {}
    for record in records["records"]:
        by_config.setdefault(record["config_id"], []).append(record)
        assert len(record["response_id"]) == 32, record
    chat = sorted(by_config["chat-completions"], key=lambda r: r["usage"]["input_tokens"])
    assert chat[0]["usage"]["latency_ms"] == 12.5, chat
    assert chat[0]["client_customer_key"] == "customer-1", chat
    assert chat[0]["context"] == {"request": "abc"}, chat
    assert "client_customer_key" not in chat[1], chat
    assert by_config["free-form"][0]["usage"] == {"anything": ["goes", 1, None]}, by_config

    # 4. The SDK cached configs and the ETag in its INI; a new tracker revalidates (304) and
    #    then fetches /triggered-limits, as the contract describes.
    ini = configparser.ConfigParser()
    ini.read(ini_path)
    assert ini["configs"]["etag"].startswith('"'), dict(ini["configs"])
    assert len(json.loads(ini["configs"]["payload"])) == 4
    assert "encrypted_payload" in json.loads(ini["triggered_limits"]["payload"])
    before = control(api_base, "/__stats")
    again = Tracker("speech-to-text", "deepgram::nova-2", **options)
    again.close()
    after = control(api_base, "/__stats")
    assert after["not_modified"] > before["not_modified"], (before, after)
    assert after["triggered_limits_requests"] > before["triggered_limits_requests"], (before, after)
    print("python interop: ok", json.dumps(after))


if __name__ == "__main__":
    main()
