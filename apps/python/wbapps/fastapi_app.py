"""Lab B's FastAPI application (uvicorn, or gunicorn with uvicorn workers); /data/ is asynchronous."""

from __future__ import annotations

import asyncio

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import Response

from wbapps import workload

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
_state: dict = {}


def _clients() -> tuple[httpx.AsyncClient, aioredis.Redis]:
    if not _state:
        _state["http"] = httpx.AsyncClient(timeout=10)
        _state["redis"] = aioredis.Redis(host=workload.REDIS_HOST, port=workload.REDIS_PORT)
    return _state["http"], _state["redis"]


@app.get("/ping")
async def ping() -> Response:
    return Response(workload.ping(), media_type=workload.JSON)


@app.get("/fib/{n}")
def fib(n: str) -> Response:
    # A plain `def`: FastAPI runs it in its thread pool, as Lab B's CPU-bound case did.
    if not n.isdigit():
        return Response("404: Not Found", status_code=404, media_type=workload.TEXT)
    return Response(workload.fib_body(int(n)), media_type=workload.JSON)


@app.get("/data/{item_id}")
async def data(item_id: str) -> Response:
    if not item_id.isdigit():
        return Response("404: Not Found", status_code=404, media_type=workload.TEXT)
    http, cache = _clients()
    api, cached = await asyncio.gather(
        http.get(workload.item_url(item_id)), cache.get(workload.cache_key(item_id))
    )
    api.raise_for_status()
    return Response(workload.data_body(api.content, cached), media_type=workload.JSON)


@app.get("/{path:path}")
async def lines(path: str) -> Response:
    found = workload.match("/" + path)
    if found is None:
        return Response("404: Not Found", status_code=404, media_type=workload.TEXT)
    return Response(workload.lines(*found), media_type=workload.TEXT)
