"""Shared fixtures: servers on 127.0.0.1 port 0, and one scaled timeout unit."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.helpers.apps import Events, build_router
from wsrpc_typed import Router, Server

#: One timeout unit in seconds; raise WSRPC_TEST_TIME_SCALE on slow machines.
UNIT = 5.0 * float(os.environ.get("WSRPC_TEST_TIME_SCALE", "1"))


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def router(events: Events) -> Router:
    return build_router(events)


@pytest.fixture
async def server(router: Router) -> AsyncIterator[Server]:
    async with Server(router, host="127.0.0.1", port=0) as srv:
        yield srv
