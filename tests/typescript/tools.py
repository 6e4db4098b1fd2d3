"""Node.js and the TypeScript compiler, as the TypeScript tests run them.

The npm packages are those of ``tests/typescript/package.json`` (``./scripts/test``
installs them). Compiled programs live in a temporary folder that links to that
``node_modules``, so ``import WebSocket from "ws"`` resolves there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UNIT
from wsrpc_gen import generate_typescript_client
from wsrpc_typed import Router
from wsrpc_typed.schema import openrpc_document, render_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NODE_MODULES = HERE / "node_modules"
TSC = NODE_MODULES / "typescript" / "bin" / "tsc"
#: The compiler options every check uses (strict, and stricter).
BASE_CONFIG = HERE / "tsconfig.base.json"
_ERROR = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+)")


def node() -> str:
    """The ``node`` program (the tests fail without it, as ``./scripts/test`` does)."""
    found = shutil.which("node")
    if found is None or not TSC.is_file():
        pytest.fail("run `cd tests/typescript && npm install --no-package-lock` (needs Node.js)")
    return found


def ts_source(router: Router, class_name: str) -> str:
    """The TypeScript client of a router (through its canonical OpenRPC text)."""
    document = json.loads(render_json(openrpc_document(router)))
    return generate_typescript_client(document, class_name=class_name)


def project(folder: Path, files: list[str], **options: Any) -> Path:
    """Write ``folder/tsconfig.json`` for ``files`` (relative to it) over the base options."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "node_modules"
    if not link.exists():
        link.symlink_to(NODE_MODULES, target_is_directory=True)
    config = {"extends": str(BASE_CONFIG), "compilerOptions": options, "files": files}
    path = folder / "tsconfig.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def tsc(config: Path) -> tuple[int, str, list[tuple[str, int, str]]]:
    """Run ``tsc -p config``: its exit code, output, and errors as (file name, line, code)."""
    result = subprocess.run(
        [node(), str(TSC), "-p", str(config), "--pretty", "false"],
        capture_output=True,
        text=True,
        cwd=config.parent,
        timeout=UNIT * 24,
        check=False,
    )
    output = result.stdout + result.stderr
    errors = [
        (Path(m["file"]).name, int(m["line"]), m["code"])
        for m in map(_ERROR.match, output.splitlines())
        if m is not None
    ]
    return result.returncode, output, errors
