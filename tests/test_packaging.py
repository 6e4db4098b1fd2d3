"""What a user installs: the wheel holds the packages under their import names, the
generator is ``wsrpc_gen`` (never the generic ``codegen``), and an editable install is
seen by mypy.

Builds and installs run on a copy of the sources in ``tmp_path`` (setuptools writes
``build/`` and ``*.egg-info`` into the project it builds), offline, into venvs that
borrow this interpreter's site-packages for the dependencies.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Import name -> the repository folder it is installed from.
PACKAGES = {"wsrpc_typed": "wsrpc_typed", "wsrpc_gen": "codegen"}
#: The files a package ships: modules, templates, the typing marker.
SHIPPED = ("*.py", "*.jinja", "py.typed")
pytestmark = pytest.mark.timeout(300)


def folder_name_uses(source: str) -> list[str]:
    """Where ``source`` imports the folder name ``codegen``, names one of its modules in a
    string (``python -m codegen.cli``) or passes the bare name to a call (a template loader).

    A bare ``"codegen"`` elsewhere is the folder's path, as in ``ROOT / "codegen"``.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_folder_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)] if _is_folder_module(node.module) else []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [(node.lineno, node.value)] if _MODULE_PATH.fullmatch(node.value) else []
        elif isinstance(node, ast.Call):
            found += [
                (arg.lineno, arg.value)
                for arg in node.args
                if isinstance(arg, ast.Constant) and arg.value == "codegen"
            ]
    return [f"line {line}: {name}" for line, name in sorted(found)]


#: A dotted module path into the folder, perhaps with an entry point's ``:attr``.
_MODULE_PATH = re.compile(r"codegen(\.[A-Za-z_]\w*)+(:\w+)?")


def _is_folder_module(name: str) -> bool:
    return name.partition(".")[0] == "codegen"


def test_folder_name_uses_finds_imports_and_module_strings() -> None:
    source = (
        "import codegen\n"
        "from codegen.build import X\n"
        "from wsrpc_gen import codegen\n"
        "from . import codegen\n"
        "args = ['-m', 'codegen.cli', 'tests.codegen.bank:router', 'docs/codegen.md']\n"
        "loader = PackageLoader('codegen', 'templates')\n"
        "folder = ROOT / 'codegen'\n"
    )
    assert folder_name_uses(source) == [
        "line 1: codegen",
        "line 2: codegen.build",
        "line 5: codegen.cli",
        "line 6: codegen",
    ]


def test_no_code_imports_the_generator_by_its_folder_name() -> None:
    """From the repository root ``codegen`` imports by path, so only this test notices."""
    files = [
        path
        for folder in ("wsrpc_typed", "codegen", "tests", "examples", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "node_modules" not in path.parts
    ]
    assert len(files) > 100  # the project was read
    uses = {
        str(path.relative_to(ROOT)): found
        for path in files
        if (found := folder_name_uses(path.read_text(encoding="utf-8")))
    }
    assert uses == {}


def _run(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _copy_project(target: Path) -> Path:
    """The files a build reads, copied to ``target``."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    for folder in PACKAGES.values():
        shutil.copytree(
            ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return target


def _new_venv(path: Path) -> Path:
    """A venv without pip whose dependencies are this interpreter's; its python."""
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=path)
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(purelib.stdout.strip()) / "deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def _pip_install(python: Path, *args: str | Path, cwd: Path) -> None:
    _run(
        sys.executable,
        *("-m", "pip", "--python", python, "--disable-pip-version-check"),
        *("install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation"),
        *args,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = _copy_project(work / "src")
    _run(
        sys.executable,
        *("-m", "pip", "--disable-pip-version-check", "wheel", "--quiet"),
        *("--no-deps", "--no-index", "--no-build-isolation", "--wheel-dir", work / "dist"),
        source,
        cwd=work,
    )
    (built,) = (work / "dist").glob("wsrpc_typed-*.whl")
    return built


def test_wheel_holds_each_folder_under_its_import_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if not name.endswith("/")}
    packaged = {name for name in names if ".dist-info/" not in name}
    expected = {
        f"{package}/{path.relative_to(ROOT / folder).as_posix()}"
        for package, folder in PACKAGES.items()
        for pattern in SHIPPED
        for path in (ROOT / folder).rglob(pattern)
        if "__pycache__" not in path.parts
    }
    assert {"wsrpc_gen/py.typed", "wsrpc_typed/py.typed", "wsrpc_gen/cli.py"} <= expected
    assert any(re.fullmatch(r"wsrpc_gen/python/templates/[^/]+\.jinja", name) for name in expected)
    # Every module, template and marker, and nothing else: a folder missing from
    # [tool.setuptools] packages shows here.
    assert packaged == expected
    assert {name.split("/")[0] for name in packaged} == {"wsrpc_typed", "wsrpc_gen"}
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    assert "wsrpc-gen = wsrpc_gen.cli:main" in scripts.splitlines()


def test_installed_wheel_works_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    python = _new_venv(tmp_path / "venv")
    _pip_install(python, wheel, cwd=tmp_path)
    where = _run(python, "-c", "import wsrpc_gen; print(wsrpc_gen.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv")
    missing = _run(python, "-c", "import codegen", cwd=tmp_path, check=False)
    assert missing.returncode == 1
    assert "No module named 'codegen'" in missing.stderr
    usage = _run(tmp_path / "venv" / "bin" / "wsrpc-gen", "--help", cwd=tmp_path)
    assert "client" in usage.stdout
    # The installed templates render the checked-in example client byte for byte.
    _run(
        *(tmp_path / "venv" / "bin" / "wsrpc-gen", "client", ROOT / "schemas/primes.openrpc.json"),
        *("--class-name", "PrimesClient", "--check"),
        *("-o", ROOT / "examples/primes/client_generated.py"),
        cwd=tmp_path,
    )


USER_CODE = """\
import wsrpc_typed
from wsrpc_gen import generate_client
from wsrpc_typed.schema import openrpc_document

router = wsrpc_typed.Router(title="Demo")
source: str = generate_client(openrpc_document(router), class_name="DemoClient")
generate_client(router)
"""
#: What mypy --strict must say about USER_CODE when it sees both packages' types.
USER_ERRORS = [
    'user.py:7: error: Argument 1 to "generate_client" has incompatible type "Router";'
    ' expected "Mapping[str, Any]"  [arg-type]'
]


def _editable_mode() -> str:
    """The editable mode scripts/bootstrap installs with (the one this test proves)."""
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    modes: set[str] = set(re.findall(r"editable_mode=(\w+)", bootstrap))
    (mode,) = modes
    return mode


def test_editable_install_is_importable_and_seen_by_mypy(tmp_path: Path) -> None:
    source = _copy_project(tmp_path / "src")
    python = _new_venv(tmp_path / "venv")
    mode = f"editable_mode={_editable_mode()}"
    _pip_install(python, "-e", source, "--config-settings", mode, cwd=tmp_path)
    user = tmp_path / "user"
    user.mkdir()
    (user / "user.py").write_text(USER_CODE)
    (user / "mypy.ini").write_text(f"[mypy]\nstrict = True\ncache_dir = {tmp_path / 'cache'}\n")

    result = _run(python, "-m", "mypy", "--no-error-summary", "user.py", cwd=user, check=False)
    assert (result.returncode, result.stdout.splitlines()) == (1, USER_ERRORS), result.stderr

    # Editable: an edit to the sources is what the next import sees.
    with (source / "codegen" / "model.py").open("a") as model:
        model.write("EDITED = True\n")
    edited = _run(python, "-c", "import wsrpc_gen.model; print(wsrpc_gen.model.EDITED)", cwd=user)
    assert edited.stdout.strip() == "True"
    missing = _run(python, "-c", "import codegen", cwd=user, check=False)
    assert "No module named 'codegen'" in missing.stderr
