"""The README's "Mounting in FastAPI/Starlette" example runs as written."""

from __future__ import annotations

import re
import types

from tests.helpers.asgi_servers import run_uvicorn
from tests.helpers.processes import ROOT
from wsrpc_typed import connect


def _section_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Mounting in FastAPI/Starlette", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python example in the section"
    return match.group(1)


async def test_the_readme_example_serves_under_uvicorn() -> None:
    module = types.ModuleType("readme_app")
    exec(compile(_section_example(), "README.md", "exec"), module.__dict__)
    async with run_uvicorn(module.app) as (_, url), connect(url + "/rpc/") as conn:
        assert await conn.call("add", [1, 2]) == 3
        assert await conn.call("whoami") == "127.0.0.1 on /rpc/"
        assert len(module.rpc.connections) == 1
