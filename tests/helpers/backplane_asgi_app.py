"""The backplane tests' router as an ASGI app, linked through the Redis that the environment
names: ``uvicorn tests.helpers.backplane_asgi_app:app --workers N`` with
``TEST_REDIS_URL`` and ``TEST_NAMESPACE`` set (each worker imports its own app)."""

from __future__ import annotations

import os

from tests.helpers.backplane_app import server_router
from wsrpc_typed.adapters.redis import RedisBackplane
from wsrpc_typed.asgi import RpcApp

app = RpcApp(
    server_router(),
    backplane=RedisBackplane(
        os.environ["TEST_REDIS_URL"], namespace=os.environ["TEST_NAMESPACE"], heartbeat=0.2, ttl=1.0
    ),
)
