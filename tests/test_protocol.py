"""The sans-I/O protocol core: a client and a server RpcProtocol wired to each other in memory.

In the style of h11's ``ConnectionPair``: no event loop, no socket. ``pair.send(side)``
moves what ``side`` queued to the other side and returns the events it produced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import msgpack
import orjson
import pytest

from wsrpc_typed.dialects.detect import AutoDialect
from wsrpc_typed.dialects.events import (
    Batch,
    Dialect,
    ErrorResponse,
    Malformed,
    Notification,
    Request,
    Response,
)
from wsrpc_typed.dialects.jsonrpc import JsonRpcDialect
from wsrpc_typed.dialects.legacy import LegacyDialect
from wsrpc_typed.dialects.v2 import V2JsonDialect, V2MsgpackDialect
from wsrpc_typed.errors import ResponseTooLarge
from wsrpc_typed.protocol import (
    NO_REPLY,
    AckWait,
    CancelReceived,
    CreditReceived,
    ItemReceived,
    PendingCall,
    RpcProtocol,
)

DIALECTS: dict[str, Callable[[], Dialect]] = {
    "jsonrpc": JsonRpcDialect,
    "legacy": LegacyDialect,
    "v2-msgpack": V2MsgpackDialect,
    "v2-json": V2JsonDialect,
}


class Pair:
    """A client protocol and a server protocol; frames move only when asked."""

    def __init__(self, client: Dialect, server: Dialect | None = None, **options: Any) -> None:
        self.client = RpcProtocol(client, **options)
        self.server = RpcProtocol(server if server is not None else type(client)(), **options)

    def send(self, side: RpcProtocol) -> list[Any]:
        """Deliver what ``side`` queued to the other side; return the events it produced."""
        other = self.server if side is self.client else self.client
        return [other.receive(frame) for frame in side.data_to_send()]

    def call(self, method: str = "add", params: Any = None, **options: Any) -> PendingCall:
        return self.client.send_request(
            method, [1, 2] if params is None else params, object(), **options
        )


def decoded(frame: bytes, dialect: Dialect) -> Any:
    return msgpack.unpackb(frame, raw=False) if not dialect.text else orjson.loads(frame)


@pytest.fixture(params=sorted(DIALECTS))
def pair(request: pytest.FixtureRequest) -> Pair:
    return Pair(DIALECTS[request.param]())


# -- calls ---------------------------------------------------------------------------


def test_a_call_is_served_and_settled_once(pair: Pair) -> None:
    first, second = pair.call(), pair.call("add", [3, 4])
    assert first.id < second.id
    assert set(pair.client.pending) == {first.id, second.id}
    requests = pair.send(pair.client)
    assert [(r.method, r.params) for r in requests] == [("add", [1, 2]), ("add", [3, 4])]
    served = pair.server.begin(requests[0].id, "add", token=object())
    assert pair.server.in_flight == 1
    pair.server.send_reply(Response(requests[0].id, (3,), "add"))
    pair.server.end(served)
    assert pair.server.in_flight == 0
    (settled,) = pair.send(pair.server)
    assert settled is first and first.reply is not None and first.reply.values[0] == 3
    assert first.id not in pair.client.pending and second.id in pair.client.pending
    # The same reply again settles nothing: a call is settled once.
    pair.server.send_reply(Response(requests[0].id, (3,), "add"))
    assert pair.send(pair.server) == [None]


def test_an_error_reply_settles_the_call(pair: Pair) -> None:
    call = pair.call()
    (request,) = pair.send(pair.client)
    pair.server.send_reply(ErrorResponse(request.id, -32602, "Invalid params", None, "add"))
    (settled,) = pair.send(pair.server)
    assert settled is call and isinstance(call.reply, ErrorResponse)
    assert call.reply.code == -32602


@pytest.mark.parametrize("name", ["jsonrpc"])
def test_a_notification_expects_nothing(name: str) -> None:
    pair = Pair(DIALECTS[name]())
    pair.client.send_notification("tick", {"n": 1})
    (event,) = pair.send(pair.client)
    assert event == Notification("tick", {"n": 1})
    assert pair.client.pending == {} and pair.server.data_to_send() == []


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_an_auto_detecting_server_answers_in_the_peers_dialect(name: str) -> None:
    pair = Pair(DIALECTS[name](), AutoDialect())
    assert not pair.server.known
    call = pair.call()
    (request,) = pair.send(pair.client)
    assert pair.server.known and type(request) is Request
    pair.server.send_reply(Response(request.id, (3,), "add"))
    assert pair.send(pair.server) == [call]


# -- acknowledgements ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["v2-msgpack", "v2-json"])
def test_v2_every_reply_is_acknowledged_and_the_sender_may_wait_for_it(name: str) -> None:
    dialect = DIALECTS[name]()
    pair = Pair(dialect)
    call = pair.call("greet", ["ann"])
    (request,) = pair.send(pair.client)
    waiter = object()
    wait = pair.server.expect_ack(request.id, waiter)
    pair.server.send_reply(Response(request.id, ("hi",), "greet"))
    (settled,) = pair.send(pair.server)
    assert settled is call
    # The client confirmed the reply at once: SYN_ACK (type 2) with the same id and command.
    (frame,) = pair.client.data_to_send()
    ack = decoded(frame, dialect)
    assert ack["id"] == request.id
    assert ack["instruction"]["type"] == 2 and ack["instruction"]["command"] == "greet"
    (event,) = [pair.server.receive(frame)]
    assert event is wait and isinstance(event, AckWait) and event.waiter is waiter
    # Once settled, the same acknowledgement finds nobody.
    assert pair.server.receive(frame) is None


@pytest.mark.parametrize("name", ["jsonrpc", "legacy"])
def test_without_acks_nothing_follows_a_reply(name: str) -> None:
    pair = Pair(DIALECTS[name]())
    pair.call()
    (request,) = pair.send(pair.client)
    pair.server.send_reply(Response(request.id, (3,), "add"))
    pair.send(pair.server)
    assert pair.client.data_to_send() == []


def test_legacy_an_acknowledgement_nobody_waits_for_is_ignored() -> None:
    pair = Pair(LegacyDialect())
    ack = orjson.dumps({"id": 7, "payload": {"instruction": 1, "args": []}})
    assert pair.server.receive(ack) is None
    assert pair.server.data_to_send() == []


def test_legacy_frames_on_the_wire() -> None:
    pair = Pair(LegacyDialect())
    call = pair.call("add", [1, 2])
    (frame,) = pair.client.data_to_send()
    assert orjson.loads(frame) == {"id": call.id, "payload": {"instruction": "add", "args": [1, 2]}}
    pair.server.send_reply(Response(call.id, (3,), "add"))
    (reply,) = pair.server.data_to_send()
    assert orjson.loads(reply)["payload"]["instruction"] == 0  # a reply is instruction 0


# -- cancel, deadlines -----------------------------------------------------------------


def test_forget_with_cancel_tells_the_peer_once_while_unsettled() -> None:
    pair = Pair(JsonRpcDialect())
    call = pair.call("slow")
    (request,) = pair.send(pair.client)
    token = object()
    served = pair.server.begin(request.id, "slow", token)
    pair.client.forget(call, cancel=True)
    assert call.id not in pair.client.pending
    (event,) = pair.send(pair.client)
    assert isinstance(event, CancelReceived) and event.served is served
    assert event.served.token is token
    pair.client.forget(call, cancel=True)  # settled (forgotten) already: nothing more
    assert pair.client.data_to_send() == []


def test_a_cancel_for_a_call_not_running_finds_nothing() -> None:
    pair = Pair(JsonRpcDialect())
    call = pair.call("slow")
    pair.send(pair.client)
    pair.client.forget(call, cancel=True)
    assert pair.send(pair.client) == [None]  # the server never began it


@pytest.mark.parametrize("name", ["legacy", "v2-msgpack", "v2-json"])
def test_dialects_without_extensions_send_no_cancel(name: str) -> None:
    pair = Pair(DIALECTS[name]())
    call = pair.call()
    pair.send(pair.client)
    pair.client.forget(call, cancel=True)
    assert pair.client.data_to_send() == []


def test_deadlines_expire_calls_and_next_deadline_follows(pair: Pair) -> None:
    early = pair.call(timeout=5.0, now=100.0)
    late = pair.call(timeout=9.0, now=100.0)
    assert pair.client.next_deadline == 105.0
    assert pair.client.expire(104.9) == []
    assert pair.client.expire(105.0) == [early]
    assert early.id not in pair.client.pending and early.reply is None
    assert pair.client.next_deadline == 109.0
    requests = pair.send(pair.client)
    pair.server.send_reply(Response(requests[0].id, (3,), "add"))
    assert pair.send(pair.server) == [None]  # the late reply to the expired call is dropped
    pair.server.send_reply(Response(requests[1].id, (3,), "add"))
    assert pair.send(pair.server) == [late]
    assert pair.client.next_deadline == math.inf  # no deadline left
    assert pair.client.expire(1e9) == []


def test_a_forgotten_call_leaves_no_deadline(pair: Pair) -> None:
    call = pair.call(timeout=1.0, now=0.0)
    pair.client.forget(call)
    assert pair.client.next_deadline == math.inf
    assert pair.client.expire(10.0) == []


def test_jsonrpc_carries_the_timeout_to_the_peer() -> None:
    pair = Pair(JsonRpcDialect())
    pair.call(timeout=2.5, now=0.0)
    (request,) = pair.send(pair.client)
    assert request.timeout == 2.5


# -- streams -----------------------------------------------------------------------------


def test_a_stream_flows_within_its_credit() -> None:
    pair = Pair(JsonRpcDialect())
    call = pair.call("count", {"upto": 10}, window=4)
    (request,) = pair.send(pair.client)
    assert request.credit == 4
    served = pair.server.begin(request.id, "count", object(), credit=request.credit)
    for i in range(4):
        pair.server.send_item(served, i)
    assert served.credit == 0
    events = pair.send(pair.server)
    assert all(isinstance(e, ItemReceived) and e.call is call for e in events)
    assert call.items is not None and list(call.items) == [0, 1, 2, 3]
    pair.client.consumed(call)
    assert pair.client.data_to_send() == []  # not yet half a window
    pair.client.consumed(call)
    (event,) = pair.send(pair.client)  # half a window consumed: 2 more credits
    assert isinstance(event, CreditReceived) and event.served is served
    assert served.credit == 2


# -- batches, limits, malformed frames -------------------------------------------------


def test_a_batch_is_answered_in_one_frame() -> None:
    pair = Pair(JsonRpcDialect())
    batch = orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "add", "params": [1, 2]},
            {"jsonrpc": "2.0", "method": "tick"},
            {"jsonrpc": "2.0", "id": 2, "method": "add", "params": [3, 4]},
        ]
    )
    event = pair.server.receive(batch)
    assert isinstance(event, Batch) and len(event.items) == 3
    pair.server.send_batch([Response(1, (3,), "add"), Response(2, (7,), "add")])
    (frame,) = pair.server.data_to_send()
    assert [r["result"] for r in orjson.loads(frame)] == [3, 7]


def test_a_batch_over_max_batch_gets_one_error() -> None:
    pair = Pair(JsonRpcDialect(), max_batch=2)
    items = [{"jsonrpc": "2.0", "id": i, "method": "add", "params": [1, 1]} for i in range(3)]
    assert pair.server.receive(orjson.dumps(items)) is None
    (frame,) = pair.server.data_to_send()
    reply = orjson.loads(frame)
    assert reply["id"] is None and reply["error"]["code"] == -32600


def test_an_oversized_reply_becomes_response_too_large() -> None:
    pair = Pair(JsonRpcDialect(), max_reply_size=200)
    pair.server.send_reply(Response(1, ("x" * 500,), "big"))
    (frame,) = pair.server.data_to_send()
    assert orjson.loads(frame)["error"]["code"] == ResponseTooLarge.code
    pair.server.send_batch([Response(2, ("x" * 500,), "big"), Response(3, (1,), "small")])
    (frame,) = pair.server.data_to_send()
    replies = orjson.loads(frame)
    assert replies[0]["error"]["code"] == ResponseTooLarge.code and replies[1]["result"] == 1


def test_a_reply_that_cannot_be_encoded_is_handed_back_and_a_batch_answers_internal_error() -> None:
    pair = Pair(JsonRpcDialect())
    unencodable = ErrorResponse(1, 4000, "bad data", object(), "m")
    assert isinstance(pair.server.send_reply(unencodable), TypeError)
    assert pair.server.data_to_send() == []  # the driver sends InternalError in its place
    failed = pair.server.send_batch([unencodable, Response(2, (1,), "ok")])
    assert [reply for reply, _ in failed] == [unencodable]
    (frame,) = pair.server.data_to_send()
    replies = orjson.loads(frame)
    assert replies[0] == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32603, "message": "Internal error"},
    }
    assert replies[1]["result"] == 1


def test_a_malformed_frame_is_answered_and_nothing_breaks() -> None:
    pair = Pair(JsonRpcDialect())
    event = pair.server.receive(b"{not json")
    assert isinstance(event, Malformed)
    (frame,) = pair.server.data_to_send()
    assert orjson.loads(frame)["error"]["code"] == -32700
    call = pair.call()
    assert [type(e) for e in pair.send(pair.client)] == [Request]
    assert call.id in pair.client.pending


# -- in flight, the end ----------------------------------------------------------------


def test_in_flight_counts_up_to_busy() -> None:
    protocol = RpcProtocol(JsonRpcDialect(), max_in_flight=2)
    first = protocol.begin(1, "a", object())
    protocol.begin(NO_REPLY, "note", object())  # a notification takes a slot too
    assert protocol.busy and protocol.in_flight == 2
    assert [s.id for s in protocol.served()] == [1]  # only calls with an id are found
    protocol.end(first)
    assert not protocol.busy


def test_connection_lost_returns_what_waited_and_forgets_it(pair: Pair) -> None:
    call = pair.call(timeout=1.0, now=0.0)
    served = pair.server.begin(5, "x", object())
    wait = pair.server.expect_ack(5, object())
    calls, _, _ = pair.client.connection_lost()
    assert calls == [call] and pair.client.pending == {} and pair.client.closed
    assert pair.client.next_deadline == math.inf
    _, acks, running = pair.server.connection_lost()
    assert acks == [wait] and running == [served]
    pair.client.forget(call, cancel=True)
    assert pair.client.data_to_send() == []  # nothing goes out on a closed connection
