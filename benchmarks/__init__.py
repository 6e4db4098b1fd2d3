"""Benchmarks for wsrpc-typed (not part of the installed package).

Run ``python -m benchmarks.bench_rpc --help``; see ``benchmarks/README.md``.
"""
