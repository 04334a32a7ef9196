"""Lab B's FastAPI application (uvicorn, or gunicorn with uvicorn workers); /data/ is asynchronous.

As in Lab B, the upstream call goes through aiohttp and Redis through redis.asyncio: each worker
process opens one `aiohttp.ClientSession` (one connection pool, kept alive to the upstream API) and
one Redis client in FastAPI's lifespan, and closes both when it stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import Response

from wbapps import workload

# Connections one worker may hold to the upstream API, and to Redis: the suite's 100 virtual users
# can all land on one worker. The libraries' defaults are 100 each: aiohttp makes the 101st request
# wait for a connection, and redis-py's asyncio pool fails it ("Too many connections"). Past this
# many, a request waits for a free connection (both pools), up to TIMEOUT.
CONNECTIONS = 256
# Idle keep-alive connections to the upstream stay open this long (s); Go's net/http keeps them.
UPSTREAM_KEEPALIVE = 60.0
TIMEOUT = 10.0  # the whole upstream call, connection to last byte; the wait for a Redis connection


def upstream_session() -> aiohttp.ClientSession:
    """The worker's one session: one pool of keep-alive connections to the upstream API."""
    connector = aiohttp.TCPConnector(
        limit=CONNECTIONS, limit_per_host=0, keepalive_timeout=UPSTREAM_KEEPALIVE
    )
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT))


def redis_client() -> aioredis.Redis:
    """The worker's one Redis client, on a pool that waits for a free connection when all are busy."""
    pool = aioredis.BlockingConnectionPool(
        host=workload.REDIS_HOST, port=workload.REDIS_PORT, max_connections=CONNECTIONS, timeout=TIMEOUT
    )
    return aioredis.Redis.from_pool(pool)  # aclose() closes the pool too


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Once per worker process: open the upstream session and the Redis client, close both at exit."""
    app.state.http = upstream_session()
    app.state.redis = redis_client()
    try:
        yield
    finally:
        await app.state.http.close()
        await app.state.redis.aclose()


app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)


async def fetch_item(http: aiohttp.ClientSession, item_id: str) -> bytes:
    """The upstream item's bytes; a status other than 2xx raises (the answer is then a 500)."""
    async with http.get(workload.item_url(item_id), allow_redirects=False) as resp:
        if not 200 <= resp.status < 300:
            raise aiohttp.ClientResponseError(
                resp.request_info,
                resp.history,
                status=resp.status,
                message=resp.reason or "",
                headers=resp.headers,
            )
        return await resp.read()


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
async def data(item_id: str, request: Request) -> Response:
    if not item_id.isdigit():
        return Response("404: Not Found", status_code=404, media_type=workload.TEXT)
    state = request.app.state
    api, cached = await asyncio.gather(
        fetch_item(state.http, item_id), state.redis.get(workload.cache_key(item_id))
    )
    return Response(workload.data_body(api, cached), media_type=workload.JSON)


@app.get("/{path:path}")
async def lines(path: str) -> Response:
    found = workload.match("/" + path)
    if found is None:
        return Response("404: Not Found", status_code=404, media_type=workload.TEXT)
    return Response(workload.lines(*found), media_type=workload.TEXT)
