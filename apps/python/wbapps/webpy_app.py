"""Lab A's web.py application (WSGI), served by gevent, gunicorn, cheroot or flup FastCGI."""

from __future__ import annotations

import redis
import web

from wbapps import workload

urls = (
    "/ping", "Ping",
    r"/fib/([0-9]+)", "Fib",
    r"/data/([0-9]+)", "Data",
    r"/([^/]+)/([0-9]+)", "Lines",
)  # fmt: skip

_redis = redis.Redis(host=workload.REDIS_HOST, port=workload.REDIS_PORT)


class Lines:
    def GET(self, txt, num):
        web.header("Content-Type", workload.TEXT)
        return workload.lines(txt, int(num))


class Ping:
    def GET(self):
        web.header("Content-Type", workload.JSON)
        return workload.ping()


class Fib:
    def GET(self, n):
        web.header("Content-Type", workload.JSON)
        return workload.fib_body(int(n))


class Data:
    def GET(self, item_id):
        # A synchronous stack: the upstream call, then the Redis GET.
        api = workload.fetch_item(item_id)
        cached = _redis.get(workload.cache_key(item_id))
        web.header("Content-Type", workload.JSON)
        return workload.data_body(api, cached)


app = web.application(urls, globals(), autoreload=False)
application = app.wsgifunc()
