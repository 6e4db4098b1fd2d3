"""Every exception the generator raises to a library caller is in the package's tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import wsrpc_gen
from wsrpc_gen.cli import app
from wsrpc_gen.python.render import render_module
from wsrpc_gen.python.source import py_literal
from wsrpc_typed.errors import (
    CodegenError,
    RenderError,
    SchemaError,
    SourceError,
    WsrpcError,
)

runner = CliRunner()
BANK = "tests.codegen.bank:router"


def test_the_tree() -> None:
    assert issubclass(SourceError, SchemaError)
    assert issubclass(CodegenError, SchemaError)
    assert issubclass(RenderError, CodegenError)
    assert issubclass(SchemaError, WsrpcError) and issubclass(SchemaError, ValueError)
    # The generator's names are the tree's classes, not copies.
    assert wsrpc_gen.CodegenError is CodegenError and wsrpc_gen.RenderError is RenderError


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("tests.codegen.no_such_module:router", r"cannot import 'tests.codegen.no_such_module'"),
        ("tests.codegen.bank:missing", r"is not a wsrpc_typed.Router \(no such attribute\)"),
        ("tests.codegen.bank:build_router", r"is not a wsrpc_typed.Router \(a function\)"),
        ("ws://127.0.0.1:9/", r"cannot fetch rpc.discover"),
    ],
)
def test_bad_sources_raise_source_errors(source: str, match: str) -> None:
    with pytest.raises(SourceError, match=match):
        wsrpc_gen.document_from_source(source)


def test_a_module_that_fails_to_import_is_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_api_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SourceError, match=r"RuntimeError: boom"):
        wsrpc_gen.load_spec("broken_api_mod:router")


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        wsrpc_gen.load_spec(str(tmp_path / "missing.json"))


def _document_with_default(value: Any) -> dict[str, Any]:
    document = wsrpc_gen.document_from_source(BANK)
    method = document["methods"][0]
    method["params"] = [{"name": "x", "required": False, "schema": {"type": "number"}}]
    method["params"][0]["schema"]["default"] = value
    return document


def test_a_non_json_value_is_a_schema_error(tmp_path: Path) -> None:
    document = _document_with_default(float("nan"))
    with pytest.raises(SchemaError, match="not JSON"):
        wsrpc_gen.generate_client(document)
    # Python's json reads NaN; a schema file holding it is not a JSON document.
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SchemaError, match="NaN is not a JSON value"):
        wsrpc_gen.load_spec(str(path))


def test_a_non_json_default_is_a_codegen_error() -> None:
    with pytest.raises(CodegenError, match="is not a JSON value"):
        py_literal(float("inf"))


def test_render_failures_are_render_errors() -> None:
    with pytest.raises(RenderError, match="a template failed"):
        render_module(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["client", "tests.codegen.bank:missing"], "is not a wsrpc_typed.Router"),
        (["schema", "tests.codegen.no_such_module:x"], "cannot import"),
        (["peer", "tests.codegen.bank:build_router"], "is not a wsrpc_typed.Router"),
        (["diff", BANK, "tests.codegen.bank:missing"], "is not a wsrpc_typed.Router"),
    ],
)
def test_cli_prints_one_line_and_exits_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)
