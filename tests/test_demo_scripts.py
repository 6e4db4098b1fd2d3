"""The demo scripts of the README, run as a user runs them."""

from __future__ import annotations

import subprocess

from tests.helpers.processes import ROOT


def test_demo_workers_runs_the_chat_on_two_workers_with_redis() -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo-workers")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "with 2 workers" in out
    # One room whichever worker each member reached: the history is shared.
    assert "history #2 bob: hi from bob" in out and "history #3 carol: bye" in out
    assert "history #1 alice: hi from alice" in out.rpartition("members: carol")[2]
    assert "cleared 3 messages" in out
