"""Start one Python system under test: `python -m wbapps.serve STACK --port P [--workers N]`.

One entry point for the stand-alone servers (one process per port, as Lab A ran them) and the
FastCGI child that spawn-fcgi starts; gunicorn and uvicorn are started by their own commands.
"""

from __future__ import annotations

import argparse


def gevent_wsgi(port: int) -> None:
    from gevent import monkey

    monkey.patch_all()
    from gevent.pywsgi import WSGIServer

    from wbapps.webpy_app import application

    WSGIServer(("0.0.0.0", port), application, log=None).serve_forever()


def cheroot_wsgi(port: int) -> None:
    from cheroot import wsgi

    from wbapps.webpy_app import application

    # Lab A ran web.py on CherryPy's WSGI server with request_queue_size=20.
    wsgi.Server(("0.0.0.0", port), application, request_queue_size=20).safe_start()


def flup_fcgi(_port: int) -> None:
    from flup.server.fcgi import WSGIServer

    from wbapps.webpy_app import application

    # spawn-fcgi hands the listening unix socket over as fd 0 (bindAddress=None).
    WSGIServer(application, multiplexed=False, multithreaded=False, bindAddress=None).run()


def tornado_server(port: int) -> None:
    from wbapps.tornado_app import main

    main(port)


STACKS = {
    "gevent": gevent_wsgi,
    "cheroot": cheroot_wsgi,
    "flup": flup_fcgi,
    "tornado": tornado_server,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stack", choices=sorted(STACKS))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    STACKS[args.stack](args.port)


if __name__ == "__main__":
    main()
