"""Hostile HTTP servers written with the standard library, for tests over real sockets.

Our fake (`flux_flex.testing`) agrees with the client by construction; these servers do not.
A `HostileServer` listens on 127.0.0.1, records every request, and answers each route with
a handler that may be honest or hostile::

    from tests.hostile import HostileServer, handlers

    with HostileServer() as server:
        api = server.api(task_seconds=0.1)              # a small well-behaved API ...
        server.route("GET", "/v1/get_result",           # ... made hostile one route at a time
                     handlers.drip_headers(200, b'{"id":"x","status":"Pending"}', rate=1))
        client = FluxFlex(api_key="k", base_url=server.url)
        ...
        assert server.count("POST", "/v1/flux-2-flex") == 1
        assert server.created_tasks == ["task-1"]
        assert not any(r.carried_key for r in server.requests_to("GET", "/samples/*"))

See `server` (the server, `Exchange`, `Recorded`), `handlers` (the attacks), `api` (the
well-behaved API), `killable` (that API with kill points: hold the n-th submit, poll or
download while a test kills the client; count what was billed) and `images` (valid PNG
bytes).
"""

from tests.hostile import handlers
from tests.hostile.api import POLL, SAMPLES, SUBMIT, Api, Task, install_api
from tests.hostile.images import JPEG_HEAD, WEBP_HEAD, png
from tests.hostile.killable import BAD_GATEWAY_MARKER, KILL_POINTS, Gate, KillableApi
from tests.hostile.server import Exchange, Handler, HostileServer, Recorded, raw_response

__all__ = [
    "BAD_GATEWAY_MARKER",
    "JPEG_HEAD",
    "KILL_POINTS",
    "POLL",
    "SAMPLES",
    "SUBMIT",
    "WEBP_HEAD",
    "Api",
    "Exchange",
    "Gate",
    "Handler",
    "HostileServer",
    "KillableApi",
    "Recorded",
    "Task",
    "handlers",
    "install_api",
    "png",
    "raw_response",
]
