"""Lab B's FastAPI app: one aiohttp session and one Redis client per worker, opened and closed by the
lifespan, and /data/ answers exactly what the verification gate expects.

The project's .venv does not hold the lab's Python stack (fastapi, aiohttp, redis: they live in
apps/python-stack.lock, on the server), so the first tests import the app over small stand-ins for
those three libraries that record what the app asks of them. The last test runs the real libraries
against a real upstream on the loopback, where they are installed.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import types
from pathlib import Path

import pytest

from webbench_lab.apps.services import seed_value
from webbench_lab.apps.verify import ENDPOINTS, ITEM

APPS = Path(__file__).resolve().parents[2] / "apps" / "python"
EXPECTED = next(e for e in ENDPOINTS if e.path == f"/data/{ITEM}")
ITEM_JSON = b'{"id":%d,"name":"item-%d"}' % (ITEM, ITEM)


class Recorder:
    """What the stand-ins saw: every object the app created, every call it made."""

    def __init__(self) -> None:
        self.sessions: list[FakeSession] = []
        self.pools: list[FakePool] = []
        self.redis: list[FakeRedis] = []
        self.upstream_status = 200
        self.upstream_body = ITEM_JSON
        self.cache: dict[str, bytes] = {}


class FakeResponseError(Exception):
    def __init__(self, request_info, history, *, status, message, headers):
        super().__init__(status, message)
        self.status = status


class FakeResponse:
    def __init__(self, rec: Recorder) -> None:
        self.status = rec.upstream_status
        self.reason = "reason"
        self.request_info = self.history = self.headers = None
        self._body = rec.upstream_body

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    async def read(self) -> bytes:
        return self._body


class FakeSession:
    def __init__(self, rec: Recorder, connector, timeout) -> None:
        self.rec, self.connector, self.timeout = rec, connector, timeout
        self.closed = False
        self.gets: list[tuple[str, dict]] = []
        rec.sessions.append(self)

    def get(self, url: str, **kwargs):
        assert not self.closed, "a request on a closed session"
        self.gets.append((url, kwargs))
        return FakeResponse(self.rec)

    async def close(self) -> None:
        self.closed = True


class FakePool:
    def __init__(self, rec: Recorder, **kwargs) -> None:
        self.kwargs = kwargs
        rec.pools.append(self)


class FakeRedis:
    def __init__(self, rec: Recorder, pool: FakePool) -> None:
        self.rec, self.pool = rec, pool
        self.closed = False
        rec.redis.append(self)

    async def get(self, key: str) -> bytes | None:
        assert not self.closed, "a command on a closed Redis client"
        return self.rec.cache.get(key)

    async def aclose(self) -> None:
        self.closed = True


class FakeFastAPI:
    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs
        self.state = types.SimpleNamespace()
        self.routes: dict[str, object] = {}

    def get(self, path: str):
        def register(func):
            self.routes[path] = func
            return func

        return register


class FakeResponseBody:
    def __init__(self, content, status_code: int = 200, media_type: str | None = None) -> None:
        self.body = content.encode() if isinstance(content, str) else content
        self.status_code, self.media_type = status_code, media_type


def _stand_ins(rec: Recorder) -> dict[str, types.ModuleType]:
    aiohttp = types.ModuleType("aiohttp")
    aiohttp.TCPConnector = lambda **kw: types.SimpleNamespace(**kw)
    aiohttp.ClientTimeout = lambda **kw: types.SimpleNamespace(**kw)
    aiohttp.ClientSession = lambda connector, timeout: FakeSession(rec, connector, timeout)
    aiohttp.ClientResponseError = FakeResponseError
    redis = types.ModuleType("redis")
    aioredis = types.ModuleType("redis.asyncio")
    aioredis.BlockingConnectionPool = lambda **kw: FakePool(rec, **kw)
    aioredis.Redis = types.SimpleNamespace(from_pool=lambda pool: FakeRedis(rec, pool))
    redis.asyncio = aioredis
    fastapi = types.ModuleType("fastapi")
    fastapi.FastAPI = FakeFastAPI
    fastapi.Request = object
    responses = types.ModuleType("fastapi.responses")
    responses.Response = FakeResponseBody
    fastapi.responses = responses
    return {
        "aiohttp": aiohttp,
        "redis": redis,
        "redis.asyncio": aioredis,
        "fastapi": fastapi,
        "fastapi.responses": responses,
    }


@pytest.fixture
def stubbed(monkeypatch):
    """The app module imported fresh over the stand-ins, and what they record."""
    rec = Recorder()
    for name, module in _stand_ins(rec).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.syspath_prepend(str(APPS))
    monkeypatch.setenv("WEBBENCH_REDIS_HOST", "10.1.2.3")
    monkeypatch.setenv("WEBBENCH_REDIS_PORT", "6391")
    for name in ("wbapps.fastapi_app", "wbapps.workload", "wbapps"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module("wbapps.fastapi_app")
    yield module, rec
    for name in ("wbapps.fastapi_app", "wbapps.workload", "wbapps"):
        sys.modules.pop(name, None)


def _data(module, item_id: str):
    request = types.SimpleNamespace(app=module.app)
    return module.data(item_id, request)


def test_the_lifespan_opens_one_session_and_one_redis_client_and_closes_both(stubbed):
    module, rec = stubbed
    assert module.app.kwargs["lifespan"] is module.lifespan
    assert rec.sessions == [] and rec.redis == []  # nothing opens at import, outside a worker's loop

    async def worker():
        async with module.lifespan(module.app):
            assert len(rec.sessions) == 1 and len(rec.redis) == 1
            assert not rec.sessions[0].closed and not rec.redis[0].closed
            for _ in range(3):
                await _data(module, str(ITEM))
            assert len(rec.sessions) == 1 and len(rec.redis) == 1  # shared by every request

    asyncio.run(worker())
    (session,), (cache,) = rec.sessions, rec.redis
    assert session.closed and cache.closed
    assert len(session.gets) == 3


def test_the_pools_hold_more_than_the_suites_users_and_keep_upstream_connections_alive(stubbed):
    module, rec = stubbed

    async def worker():
        async with module.lifespan(module.app):
            pass

    asyncio.run(worker())
    (session,), (pool,) = rec.sessions, rec.pools
    assert session.connector.limit > 100  # the fastapi_gin_2025 suite's 100 users on one worker
    assert session.connector.limit_per_host == 0
    assert session.connector.keepalive_timeout > 0
    assert not getattr(session.connector, "force_close", False)
    assert session.timeout.total == 10
    assert pool.kwargs["max_connections"] > 100
    assert (pool.kwargs["host"], pool.kwargs["port"]) == ("10.1.2.3", 6391)


def test_data_answers_the_verification_gates_bytes(stubbed):
    module, rec = stubbed
    rec.cache[f"cache:{ITEM}"] = seed_value(ITEM).encode()

    async def worker():
        async with module.lifespan(module.app):
            return await _data(module, str(ITEM)), await _data(module, "12")

    seeded, missing = asyncio.run(worker())
    assert (seeded.status_code, seeded.media_type, seeded.body) == (200, EXPECTED.media_type, EXPECTED.body)
    assert missing.body == b'{"api":{"id":%d,"name":"item-%d"},"cache":null}' % (ITEM, ITEM)
    url, kwargs = rec.sessions[0].gets[0]
    assert url == f"{module.workload.API}/items/{ITEM}"
    assert kwargs.get("allow_redirects") is False  # a 3xx is an error, as with httpx before


@pytest.mark.parametrize("status", [302, 404, 503])
def test_data_raises_for_an_upstream_status_other_than_2xx(stubbed, status):
    module, rec = stubbed
    rec.upstream_status = status

    async def worker():
        async with module.lifespan(module.app):
            await _data(module, str(ITEM))

    with pytest.raises(FakeResponseError) as raised:
        asyncio.run(worker())
    assert raised.value.status == status
    assert rec.sessions[0].closed and rec.redis[0].closed


def test_with_the_real_stack_data_answers_the_gates_bytes_over_a_real_upstream(monkeypatch):
    try:  # `make venv` installs them at the lock's versions (the Makefile's STACK_FOR_TESTS)
        import fastapi  # noqa: F401
        import redis  # noqa: F401
        from aiohttp import web
    except ImportError as exc:
        pytest.fail(f"{exc.name} is missing from this venv: run `make venv` (it installs the lab's stack)")

    monkeypatch.syspath_prepend(str(APPS))
    for name in ("wbapps.fastapi_app", "wbapps.workload", "wbapps"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    async def item(request):
        i = int(request.match_info["id"])
        return web.Response(body=b'{"id":%d,"name":"item-%d"}' % (i, i), content_type="application/json")

    async def run():
        upstream = web.Application()
        upstream.router.add_get("/items/{id}", item)
        runner = web.AppRunner(upstream, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        monkeypatch.setenv("WEBBENCH_API", f"http://127.0.0.1:{port}")
        module = importlib.import_module("wbapps.fastapi_app")
        try:
            async with module.lifespan(module.app):
                session = module.app.state.http
                cache = module.app.state.redis

                async def get(key):  # no Redis server here: the client's one command, answered
                    return seed_value(ITEM).encode() if key == f"cache:{ITEM}" else None

                monkeypatch.setattr(cache, "get", get)
                request = types.SimpleNamespace(app=module.app)
                answers = [await module.data(str(ITEM), request) for _ in range(3)]
                assert module.app.state.http is session
                assert session.connector.limit > 100 and not session.connector.force_close
            assert session.closed
            return answers
        finally:
            await runner.cleanup()
            sys.modules.pop("wbapps.fastapi_app", None)

    for answer in asyncio.run(run()):
        assert answer.body == EXPECTED.body
        assert answer.media_type == EXPECTED.media_type
