"""The pytest plugin of :mod:`wsrpc_typed.testing` (installed with the package).

Define a ``wsrpc_app`` fixture that returns what to test (a router, a
:class:`~wsrpc_typed.Server` or a hub); the ``wsrpc_client`` fixture is then
a :class:`~wsrpc_typed.testing.TestClient` connected to it in memory, closed
after the test::

    @pytest.fixture
    def wsrpc_app() -> Router:
        return router

    async def test_add(wsrpc_client: TestClient) -> None:
        assert await wsrpc_client.call("add", [1, 2]) == 3

``wsrpc_client`` is an async fixture: it needs pytest-asyncio (any mode).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import TestClient

__all__ = ["wsrpc_app", "wsrpc_client"]


@pytest.fixture
def wsrpc_app() -> Any:
    """What ``wsrpc_client`` connects to: define this fixture in your tests."""
    raise pytest.UsageError(
        "define a `wsrpc_app` fixture that returns your Router (or Server) to use wsrpc_client"
    )


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - without pytest-asyncio there is no async fixture
    pass
else:

    @pytest_asyncio.fixture
    async def wsrpc_client(wsrpc_app: Any) -> AsyncIterator[TestClient]:
        """A :class:`~wsrpc_typed.testing.TestClient` connected to ``wsrpc_app``."""
        from .testing import TestClient

        async with TestClient(wsrpc_app) as client:
            yield client
