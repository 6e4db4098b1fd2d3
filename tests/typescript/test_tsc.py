"""Generated TypeScript clients type-check with ``tsc --strict``, and catch wrong calls.

One ``tsc`` run checks the examples' clients, the Shapes client (every shape a handler
may declare), the client of the handler-shapes zoo (``tests/codegen/zoo.py``) and a file
of right calls; another checks a file of wrong calls, which must fail on each line
marked ``// error`` and on no other.
"""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import pytest

from tests.codegen import zoo
from tests.typescript import collisions, shapes
from tests.typescript.tools import HERE, project, ts_source, tsc
from wsrpc_gen.typescript.naming import RUNTIME_NAMES
from wsrpc_typed import Router

pytestmark = pytest.mark.timeout(300)

USAGE = HERE / "usage"


def example_router(name: str) -> Router:
    router = importlib.import_module(f"examples.{name}.service").router
    assert isinstance(router, Router)
    return router


@pytest.fixture(scope="module")
def checked(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, int, str, list[tuple[str, int, str]]]:
    folder = tmp_path_factory.mktemp("tsc")
    sources = {
        "chat.ts": ts_source(example_router("chat"), "ChatClient"),
        "primes.ts": ts_source(example_router("primes"), "PrimesClient"),
        "shapes.ts": ts_source(shapes.router, "ShapesClient"),
        "collisions.ts": ts_source(collisions.router, "ShapesClient"),
        "zoo.ts": ts_source(zoo.router, "ZooClient"),
    }
    for name, text in sources.items():
        (folder / name).write_text(text)
    # Alone, without the DOM's or Node's types: the modules need no environment.
    returncode, output, errors = tsc(project(folder, list(sources), noEmit=True))
    # As a browser front end uses them.
    usage = folder / "usage"
    usage.mkdir()
    for name in ("shapes.ts", "zoo.ts"):
        (usage / name).write_text(sources[name])
    shutil.copy(USAGE / "ok_usage.ts", usage)
    more = tsc(project(usage, ["ok_usage.ts"], noEmit=True, lib=["es2022", "dom"]))
    return folder, returncode or more[0], output + more[1], errors + more[2]


def test_generated_modules_pass_strict_tsc(
    checked: tuple[Path, int, str, list[tuple[str, int, str]]],
) -> None:
    folder, returncode, output, errors = checked
    assert (returncode, errors) == (0, []), output
    text = (folder / "collisions.ts").read_text()
    # Taken names got a suffix; the client's members kept theirs.
    for name in ("RpcError2", "RpcConnection2", "Record2", "Promise2", "Error2", "ShapesClient2"):
        assert f"export interface {name} {{" in text
    for name in ("close_", "connection_", "notify_", "constructor_", "delete", "with_dot"):
        assert re.search(rf"^  {re.escape(name)}\(options\?: CallOptions\)", text, re.M), name
    assert "RpcError2" not in RUNTIME_NAMES
    # Wire names that are not identifiers are quoted keys; unions in arrays keep their
    # parentheses; a constant object has no literal type; deprecation reaches the doc.
    for line in (
        '  "my-field": string;',
        "  mixed?: (number | string)[];",
        "  nested?: (Record2 | null)[][];",
        "  fixed?: unknown;",
        "   * @deprecated\n   */\n  odd(params: { value: Oddities }",
    ):
        assert line in text, line
    # The zoo's discriminated union: its options' tags are required, defaults or not.
    text = (folder / "zoo.ts").read_text()
    assert '  /** @defaultValue `"cat"` */\n  kind: "cat";\n' in text


def test_generated_module_imports_nothing(
    checked: tuple[Path, int, str, list[tuple[str, int, str]]],
) -> None:
    folder = checked[0]
    for name in ("chat.ts", "primes.ts", "shapes.ts", "zoo.ts"):
        text = (folder / name).read_text()
        assert not re.search(r"^\s*import\b|\brequire\(", text, re.M), name


def test_wrong_calls_fail_on_each_marked_line(tmp_path: Path) -> None:
    (tmp_path / "shapes.ts").write_text(ts_source(shapes.router, "ShapesClient"))
    (tmp_path / "zoo.ts").write_text(ts_source(zoo.router, "ZooClient"))
    wrong = USAGE / "wrong_usage.ts"
    shutil.copy(wrong, tmp_path)
    marked = {
        number
        for number, line in enumerate(wrong.read_text().splitlines(), 1)
        if "// error" in line and not line.lstrip().startswith("//")
    }
    assert len(marked) >= 15
    returncode, output, errors = tsc(project(tmp_path, ["wrong_usage.ts"], noEmit=True))
    assert returncode != 0
    assert {file for file, _, _ in errors} == {"wrong_usage.ts"}, output
    assert {line for _, line, _ in errors} == marked, output


@pytest.mark.parametrize(
    ("module", "router", "class_name"),
    [
        ("tests.typescript.shapes", shapes.router, "ShapesClient"),
        ("tests.codegen.zoo", zoo.router, "ZooClient"),
    ],
)
def test_command_writes_the_same_bytes_from_module_and_files(
    tmp_path: Path, module: str, router: Router, class_name: str
) -> None:
    # (and from a live URL: tests/typescript/test_node.py)
    from typer.testing import CliRunner

    from wsrpc_gen.cli import app

    runner = CliRunner()
    sources = [f"{module}:router"]
    for form in ("openrpc", "jsonschema"):
        schema = tmp_path / f"schema.{form}.json"
        made = runner.invoke(app, ["schema", sources[0], "-f", form, "-o", str(schema)])
        assert made.exit_code == 0, made.output
        sources.append(str(schema))
    outputs: list[str] = []
    for source in sources:
        out = tmp_path / f"from-{len(outputs)}.ts"
        argv = [
            "client",
            source,
            "--lang",
            "typescript",
            "--class-name",
            class_name,
            "-o",
            str(out),
        ]
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
        checked = runner.invoke(app, [*argv, "--check"])
        assert checked.exit_code == 0, checked.output
    assert set(outputs) == {ts_source(router, class_name)}
    assert (
        f"//   wsrpc-gen client SOURCE --lang typescript -o FILE --class-name {class_name}\n"
        in outputs[0]
    )


def test_peer_stub_in_typescript_is_refused_with_the_way() -> None:
    from typer.testing import CliRunner

    from wsrpc_gen.cli import app

    result = CliRunner().invoke(
        app, ["peer", "tests.typescript.shapes:router", "--lang", "typescript"]
    )
    assert result.exit_code == 2
    assert "wsrpc-gen client SOURCE --lang typescript" in result.output
