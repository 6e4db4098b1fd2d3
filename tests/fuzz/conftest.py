"""Hypothesis profiles of the fuzz tests.

The profiles are registered here and applied per test with
``settings(settings.get_profile(...))``, never loaded globally, so the rest of
the suite keeps hypothesis' defaults. ``WSRPC_FUZZ_SCALE`` multiplies every
example count: ``WSRPC_FUZZ_SCALE=20 pytest tests/fuzz`` for a long run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("WSRPC_FUZZ_SCALE", "1"))

#: Frames of many kilobytes and nesting a thousand levels deep are the point.
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "wsrpc-fuzz-decoders",
    max_examples=max(1, round(3500 * SCALE)),
    deadline=None,
    suppress_health_check=_SLOW_DATA,
    print_blob=True,
)
"""The sans-I/O decoders: thousands of frames per dialect."""

settings.register_profile(
    "wsrpc-fuzz-properties",
    max_examples=max(1, round(400 * SCALE)),
    deadline=None,
    suppress_health_check=_SLOW_DATA,
    print_blob=True,
)
"""Round-trip properties over valid events, per dialect."""

settings.register_profile(
    "wsrpc-fuzz-live",
    max_examples=max(1, round(125 * SCALE)),
    deadline=None,
    # One server and one set of connections serve every example of a test, on purpose.
    suppress_health_check=[*_SLOW_DATA, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
"""A live server on 127.0.0.1: fewer examples, each a few frames and a probe."""
