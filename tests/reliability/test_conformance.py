"""Cases 1-5: JSON-RPC 2.0 conformance (research/reliability.md section 7).

1 the specification's own examples (§7) as golden transcripts; 2 request ids
of every JSON type echoed unchanged; 3 the envelope matrix: each malformed
envelope gets its decided code; 4 typed params: invalid ones never reach the
handler and the error never echoes the input; 5 unexpected handler errors are
opaque on the wire and logged with their traceback under the request id.

Everything goes over a real WebSocket on 127.0.0.1 through a bare client, and
every reply is parsed strictly (see :func:`strict_loads`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from websockets.asyncio.client import ClientConnection

from tests.conftest import UNIT
from tests.reliability.hostile_support import (
    echoed_input,
    exchange,
    open_jsonrpc,
    receive,
    strict_loads,
)
from wsrpc_typed import Method, Router, Server

VECTORS = Path(__file__).parent / "vectors"
#: The examples of JSON-RPC 2.0 §7, one transcript each.
SPEC_EXAMPLES = [
    "positional_params",
    "named_params",
    "notifications",
    "method_not_found",
    "invalid_json",
    "invalid_request",
    "batch_invalid_json",
    "empty_batch",
    "invalid_batch_one",
    "invalid_batch_three",
    "mixed_batch",
    "batch_of_notifications",
]
#: How long a notification must stay unanswered (the case's pass criterion).
SILENCE = 0.5


@pytest.fixture
async def ws(server: Server) -> AsyncIterator[ClientConnection]:
    async with open_jsonrpc(server.url) as ws:
        yield ws


# -- case 1: the specification's examples as golden transcripts -----------------------


@dataclass(frozen=True)
class Step:
    """One frame sent, and the one reply expected (None: no frame at all)."""

    sent: str
    expected: Any


def load_transcript(path: Path) -> list[Step]:
    """Read a transcript: ``-->`` frames sent, each followed by its ``<--`` reply, if any.

    The format is go-ethereum's ``rpc/testdata``: one frame per line, ``//``
    comments. In an expected reply the string ``"*"`` matches any string.
    """
    steps: list[Step] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("//"):
            continue
        arrow, _, frame = line.partition(" ")
        if arrow == "-->":
            steps.append(Step(frame, None))
        elif arrow == "<--" and steps and steps[-1].expected is None:
            steps[-1] = Step(steps[-1].sent, json.loads(frame))
        else:
            raise ValueError(f"{path.name}:{number}: expected '--> frame' or one '<-- reply'")
    return steps


def matches(expected: Any, got: Any) -> bool:
    """Equal as parsed JSON, types included (1 is not 1.0); ``"*"`` matches any string."""
    if expected == "*":
        return isinstance(got, str)
    if type(expected) is not type(got):
        return False
    if isinstance(expected, dict):
        return expected.keys() == got.keys() and all(
            matches(v, got[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return len(expected) == len(got) and all(map(matches, expected, got))
    return bool(expected == got)


def same_reply(expected: Any, got: Any) -> bool:
    """Like :func:`matches`, but the entries of a batch reply may come in any order."""
    if not (isinstance(expected, list) and isinstance(got, list)):
        return matches(expected, got)
    unmatched = list(got)
    for entry in expected:
        found = next((i for i, item in enumerate(unmatched) if matches(entry, item)), None)
        if found is None:
            return False
        del unmatched[found]
    return not unmatched


def spec_router() -> Router:
    """The methods the examples of §7 call (``foobar`` and ``foo.get`` stay unregistered)."""
    router = Router()

    @router.method
    async def subtract(minuend: int, subtrahend: int) -> int:
        return minuend - subtrahend

    @router.method(name="sum")
    async def sum_(a: int, b: int, c: int) -> int:
        return a + b + c

    @router.method
    async def update(a: int, b: int, c: int, d: int, e: int) -> None:
        pass

    @router.method
    async def notify_hello(n: int) -> None:
        pass

    @router.method
    async def notify_sum(a: int, b: int, c: int) -> None:
        pass

    @router.method
    async def get_data() -> list[str | int]:
        return ["hello", 5]

    return router


def test_01_every_example_of_the_specification_has_a_transcript() -> None:
    names = sorted(path.stem for path in VECTORS.glob("conformance_*.txt"))
    assert [name.split("_", 2)[2] for name in names] == SPEC_EXAMPLES


@pytest.mark.parametrize("name", SPEC_EXAMPLES)
async def test_01_spec_vectors(name: str) -> None:
    (path,) = [p for p in VECTORS.glob("conformance_*.txt") if p.stem.split("_", 2)[2] == name]
    steps = load_transcript(path)
    assert steps
    async with Server(spec_router(), port=0) as server, open_jsonrpc(server.url) as ws:
        for step in steps:
            await ws.send(step.sent)
            if step.expected is None:
                try:
                    frame = await asyncio.wait_for(ws.recv(), SILENCE)
                except TimeoutError:
                    continue
                pytest.fail(f"sent {step.sent}\nit must get no reply, got {frame!r}")
            else:
                got = await receive(ws)
                assert same_reply(step.expected, got), f"sent {step.sent}\ngot   {got}"


# -- case 2: ids of every JSON type come back unchanged --------------------------------

valid_ids = st.one_of(
    st.none(),
    st.text(max_size=16),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from([2**53 + 1, -(2**53 + 1), 2**63, -(2**63), 0]),
    st.floats(allow_nan=False, allow_infinity=False),
)
invalid_ids = st.one_of(
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
id_batches = st.lists(
    st.one_of(valid_ids.map(lambda i: (True, i)), invalid_ids.map(lambda i: (False, i))),
    min_size=1,
    max_size=40,
)


def json_identity(value: Any) -> tuple[type, str]:
    """A value's JSON type and exact form: 1 and 1.0 (and 0.0 and -0.0) differ."""
    return type(value), repr(value)


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ids=id_batches, as_batch=st.booleans(), ascii_only=st.booleans())
async def test_02_ids_round_trip(
    ws: ClientConnection, ids: list[tuple[bool, Any]], as_batch: bool, ascii_only: bool
) -> None:
    requests = [
        {"jsonrpc": "2.0", "id": id_, "method": "echo", "params": [i]}
        for i, (_, id_) in enumerate(ids)
    ]
    if as_batch:
        replies = await exchange(ws, json.dumps(requests, ensure_ascii=ascii_only))
        assert isinstance(replies, list)
    else:
        for request in requests:
            await ws.send(json.dumps(request, ensure_ascii=ascii_only))
        replies = [await receive(ws) for _ in requests]
    assert len(replies) == len(ids)
    answered = {reply["result"]: reply["id"] for reply in replies if "result" in reply}
    refused = [reply for reply in replies if "result" not in reply]
    for index, (valid, id_) in enumerate(ids):
        if valid:
            assert json_identity(answered[index]) == json_identity(id_)
    assert len(answered) == sum(valid for valid, _ in ids)
    assert all(r["id"] is None and r["error"]["code"] == -32600 for r in refused)


# -- case 3: the envelope matrix --------------------------------------------------------

NO_REPLY = "no reply"
ADD = {"jsonrpc": "2.0", "method": "add", "params": [1, 2]}

#: (row, frame, the decided reply: a code and the id it carries, a list of them for a
#: batch, a result, or NO_REPLY). Decisions the specification leaves open are marked.
ENVELOPES: list[tuple[str, Any, Any]] = [
    ("jsonrpc missing", {"id": 1, "method": "add", "params": [1, 2]}, (-32600, 1)),
    ('jsonrpc "2"', {**ADD, "jsonrpc": "2", "id": 1}, (-32600, 1)),
    ("jsonrpc number 2.0", {**ADD, "jsonrpc": 2.0, "id": 1}, (-32600, 1)),
    ('jsonrpc "1.0"', {**ADD, "jsonrpc": "1.0", "id": 1}, (-32600, 1)),
    ("jsonrpc null", {**ADD, "jsonrpc": None, "id": 1}, (-32600, 1)),
    ("method missing", {"jsonrpc": "2.0", "id": 1}, (-32600, 1)),
    ("method number", {"jsonrpc": "2.0", "id": 1, "method": 1}, (-32600, 1)),
    ("method null", {"jsonrpc": "2.0", "id": 1, "method": None}, (-32600, 1)),
    ("method array", {"jsonrpc": "2.0", "id": 1, "method": ["add"]}, (-32600, 1)),
    ("method object", {"jsonrpc": "2.0", "id": 1, "method": {"name": "add"}}, (-32600, 1)),
    ("method empty", {"jsonrpc": "2.0", "id": 1, "method": ""}, (-32601, 1)),
    ("rpc.* unregistered", {"jsonrpc": "2.0", "id": 1, "method": "rpc.nope"}, (-32601, 1)),
    # extension notifications called with an id are requests, and no such method exists
    ("rpc.cancel with an id", {"jsonrpc": "2.0", "id": 1, "method": "rpc.cancel"}, (-32601, 1)),
    ("params string", {**ADD, "id": 1, "params": "1, 2"}, (-32600, 1)),
    ("params number", {**ADD, "id": 1, "params": 3}, (-32600, 1)),
    ("params null", {**ADD, "id": 1, "params": None}, (-32600, 1)),
    ("params true", {**ADD, "id": 1, "params": True}, (-32600, 1)),
    ("id true", {**ADD, "id": True}, (-32600, None)),
    ("id array", {**ADD, "id": [1]}, (-32600, None)),
    ("id object", {**ADD, "id": {"n": 1}}, (-32600, None)),
    # an invalid notification is still answered: the server cannot tell it is one (§5)
    ("notification, params string", {**ADD, "params": "x"}, (-32600, None)),
    ("notification, method number", {"jsonrpc": "2.0", "method": 7}, (-32600, None)),
    ("nested batch", [[{**ADD, "id": 1}]], [(-32600, None)]),
    ("nested empty batches", [[], []], [(-32600, None), (-32600, None)]),
    ("batch of scalars", [1, "a", None], [(-32600, None)] * 3),
    ("top-level string", "a string", (-32600, None)),
    ("top-level number", 7, (-32600, None)),
    ("top-level null", None, (-32600, None)),
    # decided: unknown members are ignored (lenient peers; our extensions add members)
    ("extra member", {**ADD, "id": 1, "extra": {"x": 1}}, 3),
    # decided: a response nobody waits for is dropped, never answered
    ("stray response", {"jsonrpc": "2.0", "id": 1, "result": 1}, NO_REPLY),
    (
        "stray error",
        {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "x"}},
        NO_REPLY,
    ),
    ("malformed error", {"jsonrpc": "2.0", "id": 1, "error": "x"}, NO_REPLY),
]


def outcome(reply: Any) -> Any:
    """A reply reduced to the matrix's terms: (code, id), or the result."""
    if isinstance(reply, list):
        return [outcome(entry) for entry in reply]
    if "error" in reply:
        return (reply["error"]["code"], reply["id"])
    return reply["result"]


@pytest.mark.parametrize(
    ("frame", "decided"), [row[1:] for row in ENVELOPES], ids=[row[0] for row in ENVELOPES]
)
async def test_03_envelope_matrix(ws: ClientConnection, frame: Any, decided: Any) -> None:
    await ws.send(json.dumps(frame))
    # A request after it. The server answers single frames in the order it reads
    # them, so for a frame that gets no reply, the marker's reply comes first.
    marked = {"jsonrpc": "2.0", "id": "marker", "method": "add", "params": [0, 0]}
    marker = {"jsonrpc": "2.0", "id": "marker", "result": 0}
    await ws.send(json.dumps(marked))
    first = await receive(ws)
    if decided == NO_REPLY:
        assert first == marker
        return
    # A batch is answered once all its items are, so its reply may come second.
    second = await receive(ws)
    (reply,) = [r for r in (first, second) if r != marker]
    assert outcome(reply) == decided
    for entry in reply if isinstance(reply, list) else [reply]:
        assert set(entry) == {"jsonrpc", "id", "error" if "error" in entry else "result"}
        if "error" in entry:
            assert set(entry["error"]) <= {"code", "message", "data"}
            assert isinstance(entry["error"]["message"], str)


# -- case 4: typed params ----------------------------------------------------------------


class Item(BaseModel):
    name: str
    qty: Annotated[int, Field(ge=0, le=1000)]
    tags: list[str] = []


def counted_router(calls: Counter[str]) -> Router:
    """Handlers that count their calls. None suspends, so each runs before its reply is sent."""
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        calls["add"] += 1
        return a + b

    @router.method
    async def order(
        item: Item,
        mode: Literal["fast", "slow"],
        counts: dict[str, int],
        note: str | None = None,
        ratio: float = 1.0,
        urgent: bool = False,
    ) -> str:
        calls["order"] += 1
        return mode

    @router.method
    async def label(labels: list[str], limit: Annotated[int, Field(ge=1, le=10)] = 3) -> int:
        calls["label"] += 1
        return min(len(labels), limit)

    @router.method
    async def ping() -> str:
        calls["ping"] += 1
        return "pong"

    return router


Schema = dict[str, Any]


def resolve(schema: Schema, defs: Schema) -> Schema:
    ref = schema.get("$ref")
    return resolve(defs[ref.rsplit("/", 1)[1]], defs) if ref else schema


def from_schema(schema: Schema, defs: Schema) -> st.SearchStrategy[Any]:
    """Values valid under the subset of JSON Schema that the params validators emit."""
    schema = resolve(schema, defs)
    if "anyOf" in schema:
        return st.one_of([from_schema(branch, defs) for branch in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**53)), schema.get("maximum", 2**53))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "string":
        return st.text(max_size=80)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema["items"], defs), max_size=4)
    if kind == "object" and "properties" in schema:
        properties = schema["properties"]
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v, defs) for k, v in properties.items() if k in required},
            optional={k: from_schema(v, defs) for k, v in properties.items() if k not in required},
        )
    if kind == "object":
        return st.dictionaries(
            st.text(max_size=80), from_schema(schema["additionalProperties"], defs), max_size=3
        )
    raise NotImplementedError(f"no strategy for {schema}")


def accepts(schema: Schema, defs: Schema, value: Any) -> bool:
    """Whether pydantic (lax mode) might accept ``value``: errs on the side of yes."""
    schema = resolve(schema, defs)
    if "anyOf" in schema:
        return any(accepts(branch, defs, value) for branch in schema["anyOf"])
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type")
    number_like = isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"\s*[-+]?[\d.eE_+-]+\s*", value) is not None
    )
    if kind == "integer":
        return number_like and not (isinstance(value, float) and not value.is_integer())
    if kind == "number":
        return number_like
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool | str) or value in (0, 1)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def wrong_value(schema: Schema, defs: Schema) -> st.SearchStrategy[Any]:
    """Values the schema rejects: another JSON type, or a long string where none fits."""
    candidates = st.one_of(
        st.sampled_from([[], {}, 1.5, None, 7, True, ["x"], {"x": 1}]),
        st.text(min_size=65, max_size=300),
    )
    return candidates.filter(lambda value: not accepts(schema, defs, value))


@st.composite
def invalid_params(draw: st.DrawFn, method: Method) -> Any:
    """Valid params for ``method`` with one mutation that makes them invalid."""
    schema = method.params_adapter.json_schema()
    defs = schema.get("$defs", {})
    params = dict(draw(from_schema(schema, defs)))
    properties: dict[str, Schema] = schema["properties"]
    required = sorted(schema.get("required", ()))
    mutations = ["extra key", "extra positional"]
    if required:
        mutations.append("drop required")
    if properties:
        mutations += ["wrong type", "wrong nested"]
    mutation = draw(st.sampled_from(mutations))
    if mutation == "extra key":
        key = draw(st.text(min_size=1, max_size=200).filter(lambda k: k not in properties))
        params[key] = draw(st.integers() | st.text(max_size=100))
    elif mutation == "extra positional":
        values = [
            params[name] if name in params else draw(from_schema(properties[name], defs))
            for name in method.param_names
        ]
        return values + draw(
            st.lists(st.integers() | st.text(max_size=100), min_size=1, max_size=5)
        )
    elif mutation == "drop required":
        del params[draw(st.sampled_from(required))]
    else:
        key = draw(st.sampled_from(sorted(properties)))
        field = resolve(properties[key], defs)
        value = params.get(key)
        if mutation == "wrong nested" and field.get("properties") and isinstance(value, dict):
            inner = draw(st.sampled_from(sorted(field["properties"])))
            params[key] = {**value, inner: draw(wrong_value(field["properties"][inner], defs))}
        elif mutation == "wrong nested" and "additionalProperties" in field:
            inner_key = draw(st.text(max_size=200))
            wrong = draw(wrong_value(field["additionalProperties"], defs))
            params[key] = {**(value or {}), inner_key: wrong}
        else:
            params[key] = draw(wrong_value(properties[key], defs))
    return params


def input_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in input_strings(item)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *input_strings(v))]
    return []


def assert_invalid_params(reply: Any, params: Any) -> None:
    """The case's criteria for one invalid call's reply."""
    error = reply["error"]
    assert error["code"] == -32602, reply
    data = error["data"]
    assert isinstance(data, list) and data
    assert all(set(entry) == {"loc", "msg", "type"} for entry in data)
    size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= 1024, f"error.data is {size} bytes"
    echo = echoed_input(input_strings(params), reply)
    assert echo is None, f"the error echoes the input: {echo!r}"


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
async def counted(calls: Counter[str]) -> AsyncIterator[Server]:
    async with Server(counted_router(calls), port=0) as server:
        yield server


@pytest.fixture
async def counted_ws(counted: Server) -> AsyncIterator[ClientConnection]:
    async with open_jsonrpc(counted.url) as ws:
        yield ws


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_04_invalid_params_never_reach_the_handler(
    counted: Server, counted_ws: ClientConnection, calls: Counter[str], data: st.DataObject
) -> None:
    method = data.draw(st.sampled_from(list(counted.router)), label="method")
    params = data.draw(invalid_params(method), label="params")
    before = calls.copy()
    request = {"jsonrpc": "2.0", "id": 1, "method": method.name, "params": params}
    assert_invalid_params(await exchange(counted_ws, request), params)
    assert calls == before
    # The counter counts: a valid call is seen at once.
    reply = await exchange(counted_ws, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert reply["result"] == "pong"
    assert calls == before + Counter(ping=1)


ITEM = {"name": "n", "qty": 1}
HOSTILE_PARAMS: list[tuple[str, str, Any]] = [
    ("missing fields", "order", {}),
    ("wrong types everywhere", "order", {"item": [], "mode": 1, "counts": [], "note": 5}),
    ("too many positional", "add", list(range(1000))),
    ("many extra keys", "add", {"a": 1, "b": 2, **{f"extra{i}": i for i in range(1000)}}),
    ("long extra key", "add", {"a": 1, "b": 2, "k" * 300: 1}),
    ("long dict key", "order", {"item": ITEM, "mode": "fast", "counts": {"c" * 300: "x"}}),
    ("long enum value", "order", {"item": ITEM, "mode": "m" * 300, "counts": {}}),
    ("long string for an int", "add", {"a": "9" * 300, "b": "x" * 300}),
    (
        "long nested string",
        "order",
        {"item": {"name": "n", "qty": "q" * 300}, "mode": "fast", "counts": {}},
    ),
]


@pytest.mark.parametrize(
    ("method", "params"),
    [row[1:] for row in HOSTILE_PARAMS],
    ids=[row[0] for row in HOSTILE_PARAMS],
)
async def test_04_hostile_params_get_a_small_error(
    counted_ws: ClientConnection, calls: Counter[str], method: str, params: Any
) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    assert_invalid_params(await exchange(counted_ws, request), params)
    assert not calls


# -- case 5: no internals in errors --------------------------------------------------------


class Boom(Exception):
    pass


def failing_router() -> Router:
    """Handlers that fail unexpectedly, on each path a handler can take."""
    router = Router()

    @router.method
    async def inline_fails(n: int) -> int:  # runs where the frame is read
        raise RuntimeError(f"secret /etc/passwd {n}")

    @router.method
    async def task_fails(n: int) -> int:  # runs in a task
        await asyncio.sleep(0)
        return {"a": 1}["secret key"]

    @router.method
    def thread_fails(n: int) -> int:  # runs in a worker thread
        return n // 0

    return router


FAILURES: dict[str, type[Exception]] = {
    "inline_fails": RuntimeError,
    "task_fails": KeyError,
    "thread_fails": ZeroDivisionError,
}
LEAK = re.compile(r"Traceback|File \"|site-packages|secret")


async def test_05_unexpected_errors_are_opaque_and_logged_by_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="wsrpc_typed")
    methods = list(FAILURES)
    calls = [(f"req-{n}", methods[n % 3], n) for n in range(1000)]
    requests = [
        {"jsonrpc": "2.0", "id": id_, "method": method, "params": [n]} for id_, method, n in calls
    ]
    frames: list[str] = []
    async with Server(failing_router(), port=0) as server, open_jsonrpc(server.url) as ws:
        # Half as single requests, pipelined; half in batches of 100.
        for request in requests[:500]:
            await ws.send(json.dumps(request))
        for start in range(500, 1000, 100):
            await ws.send(json.dumps(requests[start : start + 100]))
        while len(frames) < 505:
            frame = await asyncio.wait_for(ws.recv(), UNIT)
            assert isinstance(frame, str)
            frames.append(frame)
    answers: list[Any] = []
    for frame in frames:
        reply = strict_loads(frame)
        answers.extend(reply if isinstance(reply, list) else [reply])
    assert sorted(a["id"] for a in answers) == sorted(id_ for id_, _, _ in calls)
    for answer in answers:
        assert answer["error"] == {"code": -32603, "message": "Internal error"}, answer
    leaks = [frame for frame in frames if LEAK.search(frame)]
    assert not leaks, leaks[:3]
    logged: dict[str, list[type[BaseException]]] = {}
    for record in caplog.records:
        found = re.search(r"'(req-\d+)'", record.getMessage())
        if found and record.exc_info and record.exc_info[0] is not None:
            logged.setdefault(found.group(1), []).append(record.exc_info[0])
    for id_, method, _ in calls:
        assert logged.get(id_) == [FAILURES[method]], id_
