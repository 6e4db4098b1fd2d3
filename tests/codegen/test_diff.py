"""``wsrpc-gen diff``: one test per rule of docs/schema-diff.md."""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from wsrpc_gen.cli import app
from wsrpc_gen.diff import Change, diff_specs
from wsrpc_typed import Router, RpcError
from wsrpc_typed.schema import api_spec, openrpc_document, render_json

from .helpers import ROOT


def _router(*handlers: Callable[..., Any], **options: Any) -> Router:
    router = Router()
    for handler in handlers:
        router.method(name="m", **options)(handler)
    return router


def _diff(old: Router, new: Router) -> list[tuple[str, bool]]:
    return [(c.rule, c.breaking) for c in diff_specs(api_spec(old), api_spec(new))]


class E1(RpcError):
    code = 1


class E1b(RpcError):
    code = 2


class Data(BaseModel):
    a: int


class WiderData(BaseModel):
    a: int | str


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Color2(enum.Enum):
    RED = "red"


class P(BaseModel):
    x: int


class P2(BaseModel):
    x: int
    y: int


async def base(a: int) -> int:
    return a


def test_no_change_no_finding() -> None:
    assert _diff(_router(base), _router(base)) == []


def test_m1_removed_method_breaks_and_m2_added_does_not() -> None:
    old, new = Router(), Router()
    old.method(name="gone")(base)
    new.method(name="new")(base)
    assert _diff(old, new) == [("M1", True), ("M2", False)]


def test_m3_deprecation_does_not_break() -> None:
    assert _diff(_router(base), _router(base, deprecated=True)) == [("M3", False)]


def test_p1_removed_param_breaks() -> None:
    async def new() -> int:
        return 0

    assert _diff(_router(base), _router(new)) == [("P1", True)]


def test_p2_new_required_param_breaks() -> None:
    async def new(a: int, b: int) -> int:
        return 0

    assert _diff(_router(base), _router(new)) == [("P2", True)]


def test_p3_new_optional_param_does_not_break() -> None:
    async def new(a: int, b: int = 0) -> int:
        return 0

    assert _diff(_router(base), _router(new)) == [("P3", False)]


def test_p4_param_becoming_required_breaks_and_p5_optional_does_not() -> None:
    async def optional(a: int = 1) -> int:
        return 0

    assert _diff(_router(optional), _router(base)) == [("P4", True)]
    assert ("P5", False) in _diff(_router(base), _router(optional))


def test_p6_narrowed_param_type_breaks_widened_does_not() -> None:
    async def wide(a: int | str) -> int:
        return 0

    async def bounded(a: Annotated[int, Field(le=10)]) -> int:
        return 0

    assert _diff(_router(wide), _router(base)) == [("P6", True)]
    assert _diff(_router(base), _router(wide)) == [("P6", False)]
    assert _diff(_router(base), _router(bounded)) == [("P6", True)]
    assert _diff(_router(bounded), _router(base)) == [("P6", False)]


def test_p6_removed_enum_value_breaks() -> None:
    async def old(c: Color) -> int:
        return 0

    async def new(c: Color2) -> int:
        return 0

    assert ("P6", True) in _diff(_router(old), _router(new))
    assert ("P6", False) in _diff(_router(new), _router(old))


def test_p6_new_required_model_field_breaks() -> None:
    async def old(p: P) -> int:
        return 0

    async def new(p: P2) -> int:
        return 0

    assert ("P6", True) in _diff(_router(old), _router(new))


def test_p7_reordered_params_break_positional_callers() -> None:
    async def old(a: int, b: int) -> int:
        return 0

    async def new(b: int, a: int) -> int:
        return 0

    assert _diff(_router(old), _router(new)) == [("P7", True)]


def test_p8_changed_default_does_not_break() -> None:
    async def old(a: int = 1) -> int:
        return 0

    async def new(a: int = 2) -> int:
        return 0

    assert _diff(_router(old), _router(new)) == [("P8", False)]


def test_r1_widened_result_breaks_narrowed_does_not() -> None:
    async def wide(a: int) -> int | None:
        return None

    async def literal(a: int) -> Literal["x"]:
        return "x"

    async def text(a: int) -> str:
        return ""

    assert _diff(_router(base), _router(wide)) == [("R1", True)]
    assert _diff(_router(wide), _router(base)) == [("R1", False)]
    assert _diff(_router(text), _router(literal)) == [("R1", False)]
    assert _diff(_router(base), _router(text)) == [("R1", True)]  # changed: int -> str


def test_e1_removed_error_breaks_and_e2_added_does_not() -> None:
    assert _diff(_router(base, errors=[E1]), _router(base)) == [("E1", True)]
    assert _diff(_router(base), _router(base, errors=[E1])) == [("E2", False)]


def test_e3_changed_error_code_breaks() -> None:
    class E1(RpcError):  # same name, new code
        code = 7

    assert _diff(_router(base, errors=[globals()["E1"]]), _router(base, errors=[E1])) == [
        ("E3", True)
    ]


def test_e4_widened_error_data_breaks() -> None:
    class Typed(RpcError):
        code = 5
        data_model = Data

    class Wider(RpcError):
        code = 5
        data_model = WiderData

    Wider.__name__ = "Typed"
    assert ("E4", True) in _diff(_router(base, errors=[Typed]), _router(base, errors=[Wider]))
    assert ("E4", False) in _diff(_router(base, errors=[Wider]), _router(base, errors=[Typed]))


def test_change_prints_its_rule() -> None:
    assert str(Change("P1", True, "m(a)", "param removed")) == "BREAKING P1  m(a): param removed"


@pytest.mark.parametrize(("new_is_old", "code"), [(True, 0), (False, 1)])
def test_cli_exit_code(tmp_path: Path, new_is_old: bool, code: int) -> None:
    async def new(a: int, b: int) -> int:
        return 0

    old_file, new_file = tmp_path / "old.json", tmp_path / "new.json"
    old_file.write_text(render_json(openrpc_document(_router(base))))
    new_file.write_text(render_json(openrpc_document(_router(base if new_is_old else new))))
    result = CliRunner().invoke(app, ["diff", str(old_file), str(new_file)])
    assert result.exit_code == code, result.output
    if code:
        assert "BREAKING P2  m(b): required param added" in result.stdout


def test_every_rule_is_documented_and_tested() -> None:
    doc = (ROOT / "docs" / "schema-diff.md").read_text()
    words = {
        word
        for name in re.findall(r"^def (test_\w+)", Path(__file__).read_text(), re.MULTILINE)
        for word in name.split("_")
    }
    rules = re.findall(r"^\| ([A-Z]\d) \|", doc, re.MULTILINE)
    assert len(rules) == 26
    for rule in rules:
        assert rule.lower() in words, f"rule {rule} has no test"


def test_m4_a_method_becoming_a_stream_breaks() -> None:
    async def ints(a: int) -> AsyncIterator[int]:
        yield a

    assert _diff(_router(base), _router(ints)) == [("M4", True)]


class Info(BaseModel):
    name: str


class Renamed(BaseModel):  # the shape of P under another name
    x: int


class InfoRenamed(BaseModel):  # the shape of Info under another name
    name: str


def test_p6_a_model_joining_a_union_widens_without_breaking() -> None:
    async def old(p: P) -> int:
        return 0

    async def optional(p: P | None = None) -> int:
        return 0

    async def either(p: P | int) -> int:
        return 0

    assert _diff(_router(old), _router(either)) == [("P6", False)]
    changes = diff_specs(api_spec(_router(old)), api_spec(_router(optional)))
    assert [str(c) for c in changes] == [
        "ok       P5  m(p): param became optional",
        'ok       P6  m(p): widened: now also accepts {"type": "null"}',
    ]
    assert _diff(_router(either), _router(old)) == [("P6", True)]


def test_r1_a_result_becoming_optional_is_one_widening() -> None:
    async def old(a: int) -> Info:
        return Info(name="")

    async def new(a: int) -> Info | None:
        return None

    changes = diff_specs(api_spec(_router(old)), api_spec(_router(new)))
    assert [str(c) for c in changes] == [
        'BREAKING R1  m -> result: widened: now also accepts {"type": "null"}'
    ]


def test_p6_references_inside_unions_are_resolved() -> None:
    async def old(p: P | Info) -> int:
        return 0

    async def renamed(p: Renamed | InfoRenamed) -> int:
        return 0

    async def wider(p: P2 | Info) -> int:
        return 0

    assert _diff(_router(old), _router(renamed)) == []
    assert ("P6", True) in _diff(_router(old), _router(wider))


# -- peer methods: the server calls them, existing clients answer -------------------------


def _peers(*handlers: Callable[..., Any], **options: Any) -> Router:
    router = Router()
    for handler in handlers:
        router.peer.method(name="p", **options)(handler)
    return router


def _peer_diff(old: Router, new: Router) -> list[tuple[str, bool, str]]:
    return [(c.rule, c.breaking, c.where) for c in diff_specs(api_spec(old), api_spec(new))]


async def _ask(q: str) -> bool:
    raise NotImplementedError


def test_c1_c2_a_peer_method_removed_is_fine_added_breaks() -> None:
    assert _peer_diff(_peers(_ask), Router()) == [("C1", False, "peer p")]
    assert _peer_diff(Router(), _peers(_ask)) == [("C2", True, "peer p")]


def test_c3_a_peer_method_becoming_a_stream_breaks() -> None:
    async def items(q: str) -> AsyncIterator[bool]:
        yield True

    assert _peer_diff(_peers(_ask), _peers(items)) == [("C3", True, "peer p")]


def test_c4_a_param_added_to_a_peer_method_breaks_even_optional() -> None:
    async def more(q: str, n: int = 0) -> bool:
        raise NotImplementedError

    assert _peer_diff(_peers(_ask), _peers(more)) == [("C4", True, "peer p(n)")]


def test_c5_a_peer_param_removed_breaks_when_it_was_required() -> None:
    async def none() -> bool:
        raise NotImplementedError

    async def optional(q: str = "") -> bool:
        raise NotImplementedError

    assert _peer_diff(_peers(_ask), _peers(none)) == [("C5", True, "peer p(q)")]
    assert _peer_diff(_peers(optional), _peers(none)) == [("C5", False, "peer p(q)")]


def test_c6_a_required_peer_param_becoming_optional_breaks() -> None:
    async def optional(q: str = "") -> bool:
        raise NotImplementedError

    assert _peer_diff(_peers(_ask), _peers(optional)) == [("C6", True, "peer p(q)")]


def test_c7_a_peer_param_widening_breaks_narrowing_does_not() -> None:
    async def wide(q: str | int) -> bool:
        raise NotImplementedError

    assert _peer_diff(_peers(_ask), _peers(wide)) == [("C7", True, "peer p(q)")]
    assert _peer_diff(_peers(wide), _peers(_ask)) == [("C7", False, "peer p(q)")]


def test_c8_a_peer_result_narrowing_breaks_widening_does_not() -> None:
    async def wide(q: str) -> bool | None:
        raise NotImplementedError

    assert _peer_diff(_peers(_ask), _peers(wide)) == [("C8", False, "peer p -> result")]
    assert _peer_diff(_peers(wide), _peers(_ask)) == [("C8", True, "peer p -> result")]


class Busy(RpcError):
    code = 7
    data_model = Data


class BusyWider(RpcError):
    code = 7
    data_model = WiderData


def test_c9_peer_errors_removed_or_added_are_fine_data_narrowing_breaks() -> None:
    plain = _peers(_ask)
    busy = _peers(_ask, errors=[Busy])
    assert _peer_diff(plain, busy) == [("C9", False, "peer p !Busy")]
    assert _peer_diff(busy, plain) == [("C9", False, "peer p !Busy")]
    BusyWider.__name__ = "Busy"
    try:
        wider = _peers(_ask, errors=[BusyWider])
        changes = _peer_diff(wider, busy)
    finally:
        BusyWider.__name__ = "BusyWider"
    assert changes == [("C9", True, "peer p !Busy.a")]


def test_peer_methods_and_methods_of_one_name_are_compared_apart() -> None:
    both = _peers(_ask)
    both.method(name="p")(_ask)
    assert _peer_diff(both, both) == []
    only = Router()
    only.method(name="p")(_ask)
    assert _peer_diff(only, both) == [("C2", True, "peer p")]
