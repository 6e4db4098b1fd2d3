"""Side-by-side RPC benchmark: wsrpc-typed against raw ``websockets`` echo.

Usage::

    .venv/bin/python -m benchmarks.bench_rpc [--rounds N] [--seconds S] [--quick]

Targets (see ``benchmarks/README.md``):

* ``ws_echo``: the documented ``websockets`` echo server and an asyncio client that
  matches replies FIFO with a deque of futures (58-byte text message). The baseline.
* ``wsrpc``: ``wsrpc_typed.Server`` serving ``async def add(a: int, b: int) -> int``
  (params validated on the server), called with ``await conn.call("add", {...})``.
* ``wsrpc_typed``: the same, with ``result_type=int`` (result validated on the client).

Workloads: ``seq`` (one call in flight) and ``pipe64`` (64 in flight, one connection).

Method: every cell (round x workload x target) gets a fresh server process and a
fresh client process, pinned to different CPUs when two are available. The client
runs the warm-up and the measured window and reads the server's CPU time at the
window's edges. Rounds are interleaved and the target order rotates every round.
A window with more than ``--max-foreign`` cores of foreign load is redone (at most
``--redo`` times). Reported: medians over rounds, and the median of the per-round
ratios target / ws_echo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .worker import DEFAULT_TARGETS, SERVER_KIND, TARGETS, WORKLOADS, machine_busy_seconds

BASELINE = "ws_echo"
#: The second baseline: the raw echo of the fast stack (picows, uvloop on both sides).
FAST_BASELINE = "picows_echo"
#: Targets that import this checkout's wsrpc_typed (the others use only websockets or picows).
LIVE_TARGETS = frozenset(t for t in TARGETS if t not in ("ws_echo", "rpc_orjson", "picows_echo"))
#: The floors the project must meet: (target, baseline) -> target / baseline calls/s, by workload.
FLOORS = {
    ("wsrpc", BASELINE): {"seq": 0.75, "pipe64": 0.85},
    ("wsrpc_picows", FAST_BASELINE): {"seq": 0.75, "pipe64": 0.75},
}

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Options:
    rounds: int
    warmup: float
    seconds: float
    targets: tuple[str, ...]
    workloads: tuple[str, ...]
    max_foreign: float
    redo: int
    settle: float
    pin: bool
    variants: tuple[tuple[str, str], ...] = ()


def _cpus() -> tuple[int | None, int | None]:
    """CPUs for the server and the client, or Nones when fewer than two are available."""
    if not hasattr(os, "sched_getaffinity"):
        return (None, None)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return (None, None)
    return (cpus[0], cpus[1])


def _worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.worker", *args]


def _read_line(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no line within {timeout} s")
    return stream.readline()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _split_target(target: str) -> tuple[str, str | None]:
    """``"wsrpc@fast"`` -> ``("wsrpc", "fast")``; ``"wsrpc"`` -> ``("wsrpc", None)``."""
    base, _, variant = target.partition("@")
    return base, variant or None


def run_cell(target: str, workload: str, opts: Options) -> dict[str, Any]:
    """One measurement: a fresh server process, a fresh client process, one JSON result.

    A variant target (``wsrpc@NAME``) runs both processes with the variant's directory
    as their working directory, so its ``wsrpc_typed`` is imported instead of ours.
    """
    base, variant = _split_target(target)
    root = str(Path(__file__).resolve().parent.parent)
    cwd, env = root, None
    if variant is not None:
        cwd = dict(opts.variants)[variant]
        env = {**os.environ, "PYTHONPATH": root}  # benchmarks/ from here, wsrpc_typed from cwd
    server_cpu, client_cpu = _cpus() if opts.pin else (None, None)
    lifetime = opts.warmup + opts.seconds + 60.0
    server_args = ["server", "--kind", SERVER_KIND[base], "--lifetime", str(lifetime)]
    if server_cpu is not None:
        server_args += ["--cpu", str(server_cpu)]
    server = subprocess.Popen(
        _worker_argv(*server_args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        assert server.stdout is not None
        line = _read_line(server.stdout, STARTUP_TIMEOUT).strip()
        if not line.isdigit():
            raise RuntimeError(f"{target}: the server did not print its port (got {line!r})")
        client_args = [
            "client",
            "--target",
            base,
            "--workload",
            workload,
            "--url",
            f"ws://127.0.0.1:{line}",
            "--server-pid",
            str(server.pid),
            "--warmup",
            str(opts.warmup),
            "--seconds",
            str(opts.seconds),
        ]
        if client_cpu is not None:
            client_args += ["--cpu", str(client_cpu)]
        client = subprocess.run(
            _worker_argv(*client_args),
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT + lifetime,
            check=False,
            cwd=cwd,
            env=env,
        )
        if client.returncode != 0:
            raise RuntimeError(
                f"{target}/{workload}: the client failed ({client.returncode}):\n{client.stderr}"
            )
        result: dict[str, Any] = json.loads(client.stdout.strip().splitlines()[-1])
        loaded = result.get("wsrpc_typed_file")
        if variant is not None and loaded is not None and not loaded.startswith(cwd):
            raise RuntimeError(f"{target}: imported {loaded}, not the variant's copy in {cwd}")
        result["target"] = target
        return result
    finally:
        _stop(server)


def code_version() -> str:
    """Which wsrpc_typed was measured: HEAD, and a digest of the package's source as it is.

    Others edit the package while benchmarks run, so the digest tells runs apart.
    """
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted((root / "wsrpc_typed").rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = ""
    return f"HEAD {head or '?'}, wsrpc_typed sources sha256 {digest.hexdigest()[:12]}"


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: Sequence[float]) -> float:
    """(max - min) / median, the round-to-round spread."""
    if len(values) < 2:
        return 0.0
    return (max(values) - min(values)) / statistics.median(values)


def wait_for_quiet(limit: float, max_busy: float, sample: float = 0.3) -> float:
    """Wait (at most ``limit`` s) until the machine is nearly idle; return the last busy cores.

    Other work on a shared machine comes in bursts (test runs, builds): starting a
    window in a quiet moment makes a redo less likely.
    """
    deadline = time.monotonic() + limit
    while True:
        busy0, _ = machine_busy_seconds()
        t0 = time.monotonic()
        time.sleep(sample)
        busy1, _ = machine_busy_seconds()
        busy = (busy1 - busy0) / (time.monotonic() - t0)
        if busy <= max_busy or time.monotonic() >= deadline:
            return busy


def run(opts: Options, log: IO[str]) -> list[dict[str, Any]]:
    """Every cell, rounds interleaved and the target order rotated each round."""
    results: list[dict[str, Any]] = []
    total = opts.rounds * len(opts.workloads) * len(opts.targets)
    n = 0
    for round_ in range(opts.rounds):
        shift = round_ % len(opts.targets)
        order = opts.targets[shift:] + opts.targets[:shift]
        for workload in opts.workloads:
            for target in order:
                n += 1
                attempts = 0
                while True:
                    attempts += 1
                    if opts.settle > 0:
                        wait_for_quiet(opts.settle, opts.max_foreign)
                    cell = run_cell(target, workload, opts)
                    noisy = cell["foreign_cores"] > opts.max_foreign
                    print(
                        f"[{n}/{total}] round {round_ + 1} {workload:<6} {target:<12} "
                        f"{cell['calls_per_s']:>9,.0f} calls/s  p50 {cell['p50_us']:>7,.0f} us  "
                        f"server {cell['server_us_per_call']:>6.1f} us/call  "
                        f"cores srv/cli/other {cell['server_cores']:.2f}/"
                        f"{cell['client_cores']:.2f}/{cell['foreign_cores']:.2f}"
                        + ("  (noisy: redo)" if noisy and attempts <= opts.redo else ""),
                        file=log,
                        flush=True,
                    )
                    if not noisy or attempts > opts.redo:
                        break
                cell["round"] = round_
                cell["attempts"] = attempts
                results.append(cell)
    return results


@dataclass(frozen=True, slots=True)
class Summary:
    target: str
    workload: str
    calls_per_s: float
    ratio: float
    p50_us: float
    p99_us: float
    server_us: float
    server_ratio: float
    fast_ratio: float
    client_us: float
    server_cores: float
    client_cores: float
    foreign_cores: float
    spread: float


def summarise(results: list[dict[str, Any]], opts: Options) -> list[Summary]:
    cells = {(r["round"], r["workload"], r["target"]): r for r in results}
    summaries = []
    for workload in opts.workloads:
        for target in opts.targets:
            mine = [r for r in results if r["workload"] == workload and r["target"] == target]
            ratios, server_ratios, fast_ratios = [], [], []
            for r in mine:
                base = cells.get((r["round"], workload, BASELINE))
                if base is not None:
                    ratios.append(r["calls_per_s"] / base["calls_per_s"])
                    server_ratios.append(r["server_us_per_call"] / base["server_us_per_call"])
                fast = cells.get((r["round"], workload, FAST_BASELINE))
                if fast is not None:
                    fast_ratios.append(r["calls_per_s"] / fast["calls_per_s"])
            rates = [r["calls_per_s"] for r in mine]
            summaries.append(
                Summary(
                    target=target,
                    workload=workload,
                    calls_per_s=_median(rates),
                    ratio=_median(ratios),
                    p50_us=_median([r["p50_us"] for r in mine]),
                    p99_us=_median([r["p99_us"] for r in mine]),
                    server_us=_median([r["server_us_per_call"] for r in mine]),
                    server_ratio=_median(server_ratios),
                    fast_ratio=_median(fast_ratios),
                    client_us=_median([r["client_us_per_call"] for r in mine]),
                    server_cores=_median([r["server_cores"] for r in mine]),
                    client_cores=_median([r["client_cores"] for r in mine]),
                    foreign_cores=max((r["foreign_cores"] for r in mine), default=float("nan")),
                    spread=_spread(rates),
                )
            )
    return summaries


def report(summaries: list[Summary], results: list[dict[str, Any]], opts: Options) -> str:
    pinned = "yes" if opts.pin and _cpus()[0] is not None else "no"
    lines = [
        f"rounds={opts.rounds} warmup={opts.warmup:g}s measured={opts.seconds:g}s "
        f"python={sys.version.split()[0]} pinned={pinned} "
        f"cells={len(results)} attempts={sum(r['attempts'] for r in results)}",
        "",
        "| workload | target | calls/s (median) | x ws_echo (median of round ratios) "
        "| x picows_echo | p50 us | p99 us | server us/call | server x ws_echo | client us/call "
        "| cores srv/cli/max-other | spread |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        fast = "" if s.fast_ratio != s.fast_ratio else f"{s.fast_ratio:.2f}x"  # NaN: no baseline
        lines.append(
            f"| {s.workload} | {s.target} | {s.calls_per_s:,.0f} | {s.ratio:.2f}x | {fast} "
            f"| {s.p50_us:,.0f} | {s.p99_us:,.0f} | {s.server_us:.1f} | {s.server_ratio:.2f}x "
            f"| {s.client_us:.1f} | {s.server_cores:.2f}/{s.client_cores:.2f}/"
            f"{s.foreign_cores:.2f} | {s.spread:.0%} |"
        )
    lines.append("")
    for s in summaries:
        lines.append(
            f"ratio workload={s.workload} target={s.target} calls_x_ws_echo={s.ratio:.3f} "
            f"server_cpu_x_ws_echo={s.server_ratio:.3f} calls_x_picows_echo={s.fast_ratio:.3f}"
        )
    lines.append("")
    for s in summaries:
        for (target, baseline), floors in FLOORS.items():
            floor = floors.get(s.workload)
            if _split_target(s.target)[0] != target or floor is None:
                continue
            ratio = s.ratio if baseline == BASELINE else s.fast_ratio
            if ratio != ratio:  # NaN: the baseline was not run
                continue
            verdict = "PASS" if ratio >= floor else "BELOW"
            lines.append(
                f"floor {s.target} {s.workload}: {ratio:.2f}x {baseline}, "
                f"needs >= {floor:.2f}x -> {verdict}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_rpc",
        description="wsrpc-typed vs websockets echo, side by side (see benchmarks/README.md).",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="measured seconds per cell (default 3)"
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="warm-up seconds per cell (default 1)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 1 round x 1 s (0.2 s warm-up)"
    )
    parser.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"comma-separated, from: {', '.join(TARGETS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated workloads"
    )
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=0.25,
        help="redo a window with more foreign CPU load than this, in cores (default 0.25)",
    )
    parser.add_argument("--redo", type=int, default=2, help="redos per cell at most (default 2)")
    parser.add_argument(
        "--settle",
        type=float,
        default=20.0,
        help="before each cell, wait up to this many s for the machine to go quiet (default 20)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="A/B a modified copy: targets like wsrpc@NAME import DIR/wsrpc_typed instead",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", default=None, help="also write every cell's result here")
    args = parser.parse_args(argv)

    variants: dict[str, str] = {}
    for spec in args.variant:
        name, sep, directory = spec.partition("=")
        if not sep or not name or not os.path.isdir(os.path.join(directory, "wsrpc_typed")):
            parser.error(f"--variant {spec!r}: use NAME=DIR, DIR holding a wsrpc_typed/ copy")
        variants[name] = os.path.abspath(directory)
    targets = tuple(t for t in args.targets.split(",") if t)
    workloads = tuple(w for w in args.workloads.split(",") if w)
    for t in targets:
        base, variant = _split_target(t)
        if base not in TARGETS:
            parser.error(f"unknown target {t!r} (choose from {', '.join(TARGETS)})")
        if variant is not None and variant not in variants:
            parser.error(f"target {t!r}: no --variant {variant}=DIR given")
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r} (choose from {', '.join(WORKLOADS)})")
    if BASELINE not in targets:
        targets = (BASELINE, *targets)
    if any(_split_target(t)[0] == "wsrpc_picows" for t in targets) and FAST_BASELINE not in targets:
        targets = (*targets, FAST_BASELINE)
    quick = args.quick
    opts = Options(
        rounds=args.rounds if args.rounds is not None else (1 if quick else 5),
        warmup=args.warmup if args.warmup is not None else (0.2 if quick else 1.0),
        seconds=args.seconds if args.seconds is not None else (1.0 if quick else 3.0),
        targets=targets,
        workloads=workloads,
        max_foreign=args.max_foreign,
        redo=0 if quick else args.redo,
        settle=0.0 if quick else args.settle,
        pin=not args.no_pin,
        variants=tuple(variants.items()),
    )
    if opts.rounds < 1 or opts.seconds <= 0 or opts.warmup < 0:
        parser.error("--rounds must be >= 1, --seconds > 0 and --warmup >= 0")

    started = time.monotonic()
    version_before = code_version()
    results = run(opts, sys.stderr)
    version_after = code_version()
    summaries = summarise(results, opts)
    print(f"code: {version_before}")
    live = [t for t in opts.targets if _split_target(t)[1] is None and t in LIVE_TARGETS]
    # Only the package's sources matter: HEAD also moves for commits of tests or docs.
    if version_after.split("sha256 ")[-1] != version_before.split("sha256 ")[-1] and live:
        print(f"WARNING: wsrpc_typed changed during the run; now {version_after}")
    print(report(summaries, results, opts))
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"code": version_before, "options": repr(opts), "cells": results}, f, indent=1
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
