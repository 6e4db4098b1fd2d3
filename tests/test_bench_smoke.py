"""Smoke test of the benchmark harness: it runs end to end and reports every cell.

No timing is asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS = ("ws_echo", "wsrpc", "wsrpc_typed", "picows_echo", "wsrpc_picows")
#: One small-call workload over several connections and the large payload: every code path
#: of the harness, in few cells (each cell starts two processes).
WORKLOADS = ("conn32x8", "echo100k")


def test_bench_rpc_quick_runs_and_reports_every_ratio() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_rpc",
            "--quick",
            "--rounds",
            "1",
            "--workloads",
            ",".join(WORKLOADS),
            "--seconds",
            "0.2",
            "--warmup",
            "0.1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for workload in WORKLOADS:
        for target in TARGETS:
            pattern = rf"^ratio workload={workload} target={target} calls_x_ws_echo=\d+\.\d+ "
            assert re.search(pattern, proc.stdout, re.MULTILINE), (
                f"no ratio line for {target}/{workload}:\n{proc.stdout}"
            )


def test_bench_memory_runs_and_reports_both_targets() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", "--connections", "50", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for target in ("ws_echo", "wsrpc", "picows_echo", "wsrpc_picows"):
        assert re.search(rf"^  {target} +-?\d+\.\d+ KiB/connection$", proc.stdout, re.M), (
            proc.stdout
        )
    for target in ("wsrpc", "picows_echo", "wsrpc_picows"):
        pattern = rf"^ratio {target}/ws_echo=-?\d+\.\d+$"
        assert re.search(pattern, proc.stdout, re.M), proc.stdout


def test_bench_backplane_quick_runs_and_reports_both_ratios() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_backplane", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^  cross / local: \d+\.\d\dx", proc.stdout, re.MULTILINE), proc.stdout
    assert re.search(r"^  publish / broadcast: \d+\.\d\dx", proc.stdout, re.MULTILINE), proc.stdout
