"""Replaying frames captured on the wire between the original JavaScript peers.

``tests/transcripts/*.json`` hold the frames, per probe and connection, that the
original ws-promise JavaScript client and server exchanged: text frames as
text, binary frames as hex. These tests check that we read every frame the
original client sent as the original server did, and that our replies are the
frames the original server sent (byte for byte where the original's encoding is
reproducible).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest

from wsrpc_typed.dialects.detect import detect_dialect, dialect_for_subprotocol
from wsrpc_typed.dialects.events import (
    Acknowledge,
    Dialect,
    ErrorResponse,
    Malformed,
    Request,
    Response,
)

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "transcripts"
PATHS = sorted(TRANSCRIPTS.glob("*.json"))
LEGACY = "ws-rpc-legacy"


@dataclass(frozen=True)
class Frame:
    """One captured WebSocket message."""

    conn: int
    dir: str
    raw: bytes | None  # None for a frame the capture kept only the start of
    binary: bool
    prefix: bytes = b""
    size: int = 0


@dataclass(frozen=True)
class Transcript:
    dialect: Dialect
    probes: dict[str, list[Frame]]

    @property
    def name(self) -> str:
        return self.dialect.name

    def frames(self) -> list[tuple[str, int, Frame]]:
        return [(p, i, f) for p, frames in self.probes.items() for i, f in enumerate(frames)]

    def parse(self, raw: bytes) -> Any:
        """The frame's content under this transcript's codec; raises on garbage."""
        if self.name == "ws-promise-v2":
            return msgpack.unpackb(raw, raw=False, strict_map_key=False)
        return orjson.loads(raw)


def load(path: Path) -> Transcript:
    doc = json.loads(path.read_text(encoding="utf-8"))
    probes: dict[str, list[Frame]] = {}
    for probe in doc["probes"]:
        frames = probes.setdefault(probe["name"], [])
        for f in probe["frames"]:
            if "text" in f:
                frames.append(Frame(f["conn"], f["dir"], f["text"].encode(), binary=False))
            elif "hex" in f:
                frames.append(Frame(f["conn"], f["dir"], bytes.fromhex(f["hex"]), binary=True))
            else:
                prefix = bytes.fromhex(f["hex_prefix"])
                frames.append(Frame(f["conn"], f["dir"], None, True, prefix, f["size"]))
    return Transcript(dialect_for_subprotocol(doc["dialect"]), probes)


@pytest.fixture(params=PATHS, ids=[path.stem for path in PATHS])
def transcript(request: pytest.FixtureRequest) -> Transcript:
    return load(request.param)


def test_transcripts_are_present() -> None:
    assert [path.stem for path in PATHS] == ["legacy-native", "legacy-ws2", "v2-json", "v2-msgpack"]


# -- what the original server read ---------------------------------------------------


class AnyUuid4:
    """Equal to a fresh lower-case UUID v4 string: the id the original makes up."""

    def __eq__(self, other: object) -> bool:
        return type(other) is str and str(uuid.UUID(other)) == other and other[14] == "4"


@dataclass(frozen=True)
class ExpectMalformed:
    reply_id: Any  # NO_REPLY when the frame gets no error reply


NO_REPLY = object()


def expected_legacy(obj: Any) -> Any:
    # seed-protocol.md §1.1/§1.3: what the original server makes of a frame.
    if type(obj) is not dict:
        return ExpectMalformed(NO_REPLY)
    payload = obj.get("payload")
    if type(payload) is not dict:
        return ExpectMalformed(obj.get("id", NO_REPLY))
    id_ = obj["id"] if "id" in obj else AnyUuid4()
    args = payload.get("args", [])
    args = args if type(args) is list else [args]
    instruction = payload["instruction"]
    if type(instruction) is str:
        return Request(id_, instruction, args)
    return {0: Response(id_, tuple(args)), 1: Acknowledge(id_, tuple(args))}[instruction]


def expected_v2(obj: Any) -> Any:
    # seed-protocol.md §2.1/§2.3/§2.6: what the original server makes of a frame.
    instruction = obj["instruction"]
    command, kind = instruction["command"], instruction["type"]
    id_ = obj["id"] if "id" in obj else AnyUuid4()
    if "args" not in instruction or kind not in (0, 1, 2):
        return ExpectMalformed(obj.get("id", NO_REPLY))
    args = instruction["args"]
    if kind == 0:
        return Request(id_, command, args)
    if kind == 1:
        return Response(id_, tuple(args), command)
    return Acknowledge(id_, tuple(args), command)


def expected_event(transcript: Transcript, raw: bytes) -> Any:
    try:
        obj = transcript.parse(raw)
    except Exception:
        return ExpectMalformed(NO_REPLY)
    return expected_legacy(obj) if transcript.name == LEGACY else expected_v2(obj)


def test_every_client_frame_decodes_as_expected(transcript: Transcript) -> None:
    seen = {Request: 0, Response: 0, Acknowledge: 0, Malformed: 0}
    for _, _, frame in transcript.frames():
        if frame.dir != "C->S":
            continue
        assert frame.raw is not None
        expected = expected_event(transcript, frame.raw)
        event = transcript.dialect.decode(frame.raw)
        if isinstance(expected, ExpectMalformed):
            assert type(event) is Malformed, frame
            if expected.reply_id is NO_REPLY:
                assert event.reply is None, frame
            else:
                assert event.reply is not None, frame
                assert (event.reply.id, event.reply.code) == (expected.reply_id, -32600)
        else:
            assert event == expected, frame
        seen[type(event)] += 1
    assert seen[Request] >= 20
    assert seen[Malformed] >= 2
    assert seen[Response] >= 2  # the client's answer to the server's call, and a stray reply
    if transcript.name != LEGACY:
        assert seen[Acknowledge] >= 10


def test_every_server_frame_decodes(transcript: Transcript) -> None:
    # What our client makes of the original server's frames.
    for _, _, frame in transcript.frames():
        if frame.dir == "S->C" and frame.raw is not None:
            event = transcript.dialect.decode(frame.raw)
            assert type(event) in (Request, Response, ErrorResponse, Acknowledge), frame


def test_detection_picks_the_transcript_dialect(transcript: Transcript) -> None:
    for probe, _, frame in transcript.frames():
        if frame.dir == "C->S" and frame.raw is not None and probe != "raw_frames":
            assert detect_dialect(frame.raw) is transcript.dialect


# -- what the original server wrote ----------------------------------------------------


def reply_to(transcript: Transcript, probe: str, index: int, request: Request) -> Frame | None:
    """The captured reply to the request at ``index``: same connection, same id."""
    frames = transcript.probes[probe]
    asked = frames[index]
    assert asked.raw is not None
    has_id = "id" in transcript.parse(asked.raw)
    for frame in frames[index + 1 :]:
        if frame.conn != asked.conn or frame.dir == asked.dir or frame.raw is None:
            continue
        obj = transcript.parse(frame.raw)
        is_reply = (
            obj["payload"]["instruction"] == 0
            if transcript.name == LEGACY
            else obj["instruction"]["type"] == 1
        )
        # A request without id is answered under a fresh id (§1.3, §2.3).
        if is_reply and (obj["id"] == request.id or not has_id):
            return frame
    return None


def reply_args(transcript: Transcript, frame: Frame) -> list[Any]:
    assert frame.raw is not None
    obj = transcript.parse(frame.raw)
    if transcript.name == LEGACY:
        return obj["payload"]["args"]  # type: ignore[no-any-return]
    return obj["instruction"]["args"]  # type: ignore[no-any-return]


def is_error_record(value: Any) -> bool:
    return type(value) is dict and bool(value.get("error"))


def test_our_replies_are_the_original_replies(transcript: Transcript) -> None:
    checked = 0
    for probe, index, frame in transcript.frames():
        if frame.raw is None:
            continue
        request = transcript.dialect.decode(frame.raw)
        if type(request) is not Request:
            continue
        reply = reply_to(transcript, probe, index, request)
        if reply is None:  # the original never answered (unknown method, handler threw...)
            continue
        assert reply.raw is not None
        values = reply_args(transcript, reply)
        if values and is_error_record(values[0]):
            continue  # see test_original_error_records_decode_to_error_responses
        reply_id = transcript.parse(reply.raw)["id"]
        ours = transcript.dialect.encode(Response(reply_id, tuple(values), request.method))
        assert transcript.parse(ours) == transcript.parse(reply.raw), (probe, index)
        assert ours == reply.raw, (probe, index)  # byte for byte
        checked += 1
    assert checked >= 25


def test_our_calls_are_the_original_calls(transcript: Transcript) -> None:
    # The server-initiated probe: the server calls greet("hi") on the client.
    [call, answer] = [f for f in transcript.probes["server_initiated"] if f.conn == 1][:2]
    assert call.raw is not None
    assert answer.raw is not None
    request = transcript.dialect.decode(call.raw)
    assert type(request) is Request
    assert (request.method, request.params) == ("greet", ["hi"])
    assert transcript.dialect.encode(request) == call.raw
    method = "" if transcript.name == LEGACY else "greet"
    assert transcript.dialect.decode(answer.raw) == Response(request.id, ("hello back", 7), method)


@pytest.mark.parametrize("stem", ["v2-json", "v2-msgpack"])
def test_our_acknowledgements_match_the_capture(stem: str) -> None:
    # The final legacy versions never acknowledge (seed-protocol.md §1.2).
    transcript = load(TRANSCRIPTS / f"{stem}.json")
    frames = [f for f in transcript.probes["server_initiated"] if f.dir == "S->C"]
    syn_ack = frames[-1]
    assert syn_ack.raw is not None
    captured = transcript.parse(syn_ack.raw)
    assert captured["instruction"]["type"] == 2
    command = captured["instruction"]["command"]
    ours = transcript.dialect.encode(Acknowledge(captured["id"], (), command))
    assert transcript.parse(ours) == captured
    if stem == "v2-msgpack":
        assert ours == syn_ack.raw


# -- errors ---------------------------------------------------------------------------

FAIL_MESSAGE = "fail() was called: this handler always throws"


def fail_reply(transcript: Transcript) -> Frame:
    frames = transcript.probes["handler_errors"]
    [frame] = [f for f in frames if f.dir == "S->C" and f.conn == 3 and f is not frames[-1]][:1]
    return frame


def id_from_prefix(prefix: bytes) -> Any:
    """The id at the start of a truncated msgpack frame."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(prefix)
    unpacker.read_map_header()
    assert unpacker.unpack() == "id"
    return unpacker.unpack()


def test_original_error_records_decode_to_error_responses() -> None:
    transcript = load(TRANSCRIPTS / "v2-json.json")
    frame = fail_reply(transcript)
    assert frame.raw is not None
    event = transcript.dialect.decode(frame.raw)
    assert type(event) is ErrorResponse
    assert (event.code, event.message, event.data, event.method) == (
        -32000,
        FAIL_MESSAGE,
        None,
        "failReply",
    )


def test_original_msgpack_error_record_decodes_to_an_error_response() -> None:
    # The capture kept only the first bytes of the msgpack error reply; rebuild it
    # from the JSON capture's record and check it against those bytes.
    msgpack_frame = fail_reply(load(TRANSCRIPTS / "v2-msgpack.json"))
    json_frame = fail_reply(load(TRANSCRIPTS / "v2-json.json"))
    assert msgpack_frame.raw is None
    assert json_frame.raw is not None
    obj = orjson.loads(json_frame.raw)
    obj["id"] = id_from_prefix(msgpack_frame.prefix)
    rebuilt = msgpack.packb(obj, use_bin_type=True)
    assert rebuilt.startswith(msgpack_frame.prefix)
    event = dialect_for_subprotocol("ws-promise-v2").decode(rebuilt)
    assert event == ErrorResponse(obj["id"], -32000, FAIL_MESSAGE, None, "failReply")


def test_original_legacy_error_reply_is_an_empty_object() -> None:
    # JSON.stringify(new Error(...)) is {}: a plain value, not an error (§1.1).
    for name in ("legacy-native", "legacy-ws2"):
        transcript = load(TRANSCRIPTS / f"{name}.json")
        frame = fail_reply(transcript)
        assert frame.raw is not None
        event = transcript.dialect.decode(frame.raw)
        assert type(event) is Response
        assert event.values == ({},)


@pytest.mark.parametrize("stem", ["v2-json", "v2-msgpack"])
def test_our_error_reply_makes_the_original_client_raise(stem: str) -> None:
    transcript = load(TRANSCRIPTS / f"{stem}.json")
    frame = fail_reply(transcript)
    request_id = (
        transcript.parse(frame.raw)["id"] if frame.raw is not None else id_from_prefix(frame.prefix)
    )
    event = ErrorResponse(request_id, -32603, "Internal error", None, "failReply")
    obj = transcript.parse(transcript.dialect.encode(event))
    assert obj["id"] == request_id
    assert obj["instruction"]["command"] == "failReply"
    assert obj["instruction"]["type"] == 1
    result = obj["instruction"]["args"][0]
    # proxify: `if (result && result.error && result.message && result.stack) throw RemoteError`
    assert result["error"] and result["message"] and result["stack"]
    assert result["stack"] == "InternalError: Internal error (code -32603)"
    assert "\n" not in result["stack"]
    assert "/" not in result["stack"]
    assert "data" not in result
