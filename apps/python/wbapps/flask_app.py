"""Lab B's Flask application on gunicorn (synchronous: /data/ calls upstream, then Redis)."""

from __future__ import annotations

import redis
from flask import Flask, Response

from wbapps import workload

app = Flask(__name__)
_redis = redis.Redis(host=workload.REDIS_HOST, port=workload.REDIS_PORT)


@app.get("/ping")
def ping() -> Response:
    return Response(workload.ping(), mimetype=workload.JSON)


@app.get("/fib/<int:n>")
def fib(n: int) -> Response:
    return Response(workload.fib_body(n), mimetype=workload.JSON)


@app.get("/data/<int:item_id>")
def data(item_id: int) -> Response:
    api = workload.fetch_item(str(item_id))
    cached = _redis.get(workload.cache_key(str(item_id)))
    return Response(workload.data_body(api, cached), mimetype=workload.JSON)


@app.get("/<txt>/<num>")
def lines(txt: str, num: str) -> Response:
    found = workload.match(f"/{txt}/{num}")
    if found is None:
        return Response("404: Not Found", status=404, mimetype=workload.TEXT)
    return Response(workload.lines(*found), content_type=workload.TEXT)
