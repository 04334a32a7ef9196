"""Lab A's Tornado application on Tornado's own HTTP server; /data/ is asynchronous."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
import tornado.httpclient
import tornado.ioloop
import tornado.web

from wbapps import workload


class Lines(tornado.web.RequestHandler):
    def get(self, txt, num):
        self.set_header("Content-Type", workload.TEXT)
        self.write(workload.lines(txt, int(num)))


class Ping(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", workload.JSON)
        self.write(workload.ping())


class Fib(tornado.web.RequestHandler):
    def get(self, n):
        self.set_header("Content-Type", workload.JSON)
        self.write(workload.fib_body(int(n)))


class Data(tornado.web.RequestHandler):
    async def get(self, item_id):
        client = tornado.httpclient.AsyncHTTPClient()
        api, cached = await asyncio.gather(
            client.fetch(workload.item_url(item_id), request_timeout=10),
            self.application.settings["redis"].get(workload.cache_key(item_id)),
        )
        self.set_header("Content-Type", workload.JSON)
        self.write(workload.data_body(api.body, cached))


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/ping", Ping),
            (r"/fib/([0-9]+)", Fib),
            (r"/data/([0-9]+)", Data),
            (r"/([^/]+)/([0-9]+)", Lines),
        ],
        redis=aioredis.Redis(host=workload.REDIS_HOST, port=workload.REDIS_PORT),
        log_function=lambda _handler: None,
    )


def main(port: int) -> None:
    async def run() -> None:
        make_app().listen(port)
        await asyncio.Event().wait()

    asyncio.run(run())
