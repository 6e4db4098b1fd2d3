"""mypy --strict accepts generated clients and their correct use, rejects misuse line by line."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import GOLDEN, ROOT

USAGE = Path(__file__).parent / "usage"
MYPY = ROOT / ".venv" / "bin" / "mypy"
pytestmark = pytest.mark.timeout(600)


def _mypy(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(MYPY),
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "codegen-tests"),
            "--no-error-summary",
            "--hide-error-context",
            *map(str, paths),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_generated_clients_and_correct_usage_pass_mypy_strict() -> None:
    clients = [
        GOLDEN / "bank_client.py",
        *sorted(ROOT.glob("examples/*/client_generated.py")),
        *sorted(ROOT.glob("examples/*/peer_generated.py")),
    ]
    done = _mypy(*clients, USAGE / "ok_usage.py")
    assert done.returncode == 0, done.stdout + done.stderr


def _wrong_lines_match(tmp_path: Path, name: str, count: int) -> None:
    source = USAGE / f"{name}.py.txt"
    target = tmp_path / f"{name}.py"
    shutil.copy(source, target)
    done = _mypy(target)
    expected = {n for n, line in enumerate(source.read_text().splitlines(), 1) if "# E: " in line}
    reported = {
        int(m.group(1))
        for m in re.finditer(rf"{re.escape(target.name)}:(\d+): error:", done.stdout)
    }
    assert len(expected) == count
    assert reported == expected, done.stdout


def test_wrong_usage_is_rejected_at_each_wrong_line(tmp_path: Path) -> None:
    _wrong_lines_match(tmp_path, "wrong_usage", 13)


def test_both_sides_of_one_document_pass_mypy_strict() -> None:
    # The client implements the generated Protocol; the server calls the generated peer
    # stub (the chat example's service, server and client, and the usage file).
    chat = ROOT / "examples" / "chat"
    done = _mypy(*sorted(chat.glob("*.py")), USAGE / "ok_handlers.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_wrong_handlers_and_wrong_peer_calls_are_rejected_at_each_wrong_line(
    tmp_path: Path,
) -> None:
    _wrong_lines_match(tmp_path, "wrong_handlers", 10)
