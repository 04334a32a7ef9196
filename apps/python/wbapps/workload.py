"""The four endpoints' work, written once so every Python system answers byte-for-byte the same.

`GET /<txt>/<num>` is Lab A's workload: parse both parameters with a regular expression, loop
`num` times, write one printf-style line per iteration. `/ping`, `/fib/<n>` and `/data/<id>` are
Lab B's scenarios. JSON is compact (no spaces), like Go's encoding/json and Gin.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request

ROUTE = re.compile(r"^/([^/]+)/([0-9]+)$")
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
API = os.environ.get("WEBBENCH_API", "http://127.0.0.1:9100")
REDIS_HOST = os.environ.get("WEBBENCH_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("WEBBENCH_REDIS_PORT", "6379"))


def match(path: str) -> tuple[str, int] | None:
    """Lab A's route: `^/([^/]+)/([0-9]+)$`, or None (then the answer is 404)."""
    m = ROUTE.match(path)
    return (m.group(1), int(m.group(2))) if m else None


def lines(txt: str, num: int) -> str:
    out = []
    for i in range(num):
        out.append("%d: %s\n" % (i, txt))  # noqa: UP031 - printf-style is the workload
    return "".join(out)


def fib(n: int) -> int:
    """Naive recursion on purpose: Lab B's CPU-bound scenario."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def ping() -> str:
    return dumps({"message": "pong"})


def fib_body(n: int) -> str:
    return dumps({"result": fib(n)})


def data_body(api_json: bytes | str, cache: bytes | str | None) -> str:
    """`{"api": <upstream JSON>, "cache": <Redis value or null>}`, keys in that order."""
    if isinstance(cache, bytes):
        cache = cache.decode()
    return dumps({"api": json.loads(api_json), "cache": cache})


def item_url(item_id: str) -> str:
    return f"{API}/items/{item_id}"


def fetch_item(item_id: str) -> bytes:
    """The blocking upstream call, for the synchronous stacks (cooperative under gevent)."""
    with urllib.request.urlopen(item_url(item_id), timeout=10) as resp:
        return resp.read()


def cache_key(item_id: str) -> str:
    return f"cache:{item_id}"
