"""``wsrpc-gen diff``: what changed between two versions of an API, for existing clients.

The rules, with their ids, are written in ``docs/schema-diff.md``; each finding
names its rule. A type is compared as the set of values it accepts: a param
type that accepts fewer values (narrowed) breaks callers, a result or error
data type that may produce more values (widened) breaks readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from wsrpc_typed.schema import ApiSpec, ErrorSpec, MethodSpec

__all__ = ["Change", "diff_specs"]

_DEFS = "#/$defs/"
Shift = Literal["narrowed", "widened", "changed"]

_LOWER = {"minimum": "ge", "exclusiveMinimum": "gt", "minLength": "", "minItems": ""}
_UPPER = {"maximum": "le", "exclusiveMaximum": "lt", "maxLength": "", "maxItems": ""}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions of an API.

    Attributes:
        rule: The rule's id in ``docs/schema-diff.md`` (e.g. ``P2``).
        breaking: Whether existing clients may fail because of it.
        where: What changed (``method``, ``method(param)``, ``method -> result``...).
        detail: What the rule found.
    """

    rule: str
    breaking: bool
    where: str
    detail: str

    def __str__(self) -> str:
        kind = "BREAKING" if self.breaking else "ok"
        return f"{kind:8} {self.rule:3} {self.where}: {self.detail}"


class _Types:
    """Compares two schemas, each resolved against its own document's definitions."""

    def __init__(self, old: ApiSpec, new: ApiSpec) -> None:
        self.old_defs = old.defs
        self.new_defs = new.defs
        self._seen: set[tuple[str, str]] = set()

    def compare(self, old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Shift, str]]:
        old_ref, new_ref = _ref(old), _ref(new)
        if old_ref is not None or new_ref is not None:
            key = (old_ref or "", new_ref or "")
            if key in self._seen:
                return
            self._seen.add(key)
        old_resolved, new_resolved = (
            self._resolve(old, self.old_defs),
            self._resolve(new, self.new_defs),
        )
        if not isinstance(old_resolved, Mapping) or not isinstance(new_resolved, Mapping):
            if old_resolved != new_resolved:
                yield path, "changed", f"{_short(old_resolved)} -> {_short(new_resolved)}"
            return
        old_branches, new_branches = _branches(old_resolved), _branches(new_resolved)
        if old_branches is None and new_branches is None:
            yield from self._single(old_resolved, new_resolved, path)
            return
        # A side that is not a union is a union of one branch: itself, unresolved, so that
        # each branch is resolved (and compared) as a branch of the other side would be.
        yield from self._union(old_branches or [old], new_branches or [new], path)

    @staticmethod
    def _resolve(schema: Any, defs: Mapping[str, Any]) -> Any:
        ref = _ref(schema)
        if ref is None:
            return schema
        return _without(defs.get(ref, {}), "$ref")

    def _equal(self, old: Any, new: Any) -> bool:
        # A trial comparison: whatever it visits is compared again for real later.
        seen = set(self._seen)
        try:
            return next(iter(self.compare(old, new)), None) is None
        finally:
            self._seen = seen

    def _union(
        self, olds: list[Any], news: list[Any], path: str
    ) -> Iterator[tuple[str, Shift, str]]:
        # Branches are matched by what they accept (references resolved), not by their text:
        # `Point` -> `Point | None` keeps the branch `Point` and adds `null`.
        removed, added = list(olds), list(news)
        for branch in olds:
            match = next((n for n in added if self._equal(branch, n)), None)
            if match is not None:
                removed.remove(branch)
                added.remove(match)
        if len(removed) == 1 and len(added) == 1:
            yield from self.compare(removed[0], added[0], path)
            return
        for branch in removed:
            yield path, "narrowed", f"no longer accepts {_short(self._label(branch))}"
        for branch in added:
            yield path, "widened", f"now also accepts {_short(self._label(branch))}"

    @staticmethod
    def _label(branch: Any) -> Any:
        ref = _ref(branch)
        return ref if ref is not None else _strip(branch)

    def _single(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> Iterator[tuple[str, Shift, str]]:
        old_types, new_types = _types(old), _types(new)
        if old_types != new_types:
            if old_types is None or (new_types is not None and new_types < old_types):
                yield path, "narrowed", f"type {_short(old_types)} -> {_short(new_types)}"
            elif new_types is None or (old_types is not None and new_types > old_types):
                yield path, "widened", f"type {_short(old_types)} -> {_short(new_types)}"
            else:
                yield path, "changed", f"type {_short(old_types)} -> {_short(new_types)}"
            return
        for keyword in ("const", "format"):
            if old.get(keyword) != new.get(keyword):
                shift: Shift = "narrowed" if keyword not in old else "changed"
                if keyword not in new:
                    shift = "widened"
                change = f"{_short(old.get(keyword))} -> {_short(new.get(keyword))}"
                yield path, shift, f"{keyword} {change}"
        if "enum" in old or "enum" in new:
            old_values = {_key(v) for v in old.get("enum", ())}
            new_values = {_key(v) for v in new.get("enum", ())}
            if "enum" not in new:
                yield path, "widened", "no longer an enum"
            elif "enum" not in old:
                yield path, "narrowed", "now an enum"
            else:
                for value in sorted(old_values - new_values):
                    yield path, "narrowed", f"enum value {value} removed"
                for value in sorted(new_values - old_values):
                    yield path, "widened", f"enum value {value} added"
        yield from _bounds(old, new, path)
        if old.get("pattern") != new.get("pattern"):
            shift = "narrowed" if "pattern" in new else "widened"
            if "pattern" in old and "pattern" in new:
                shift = "changed"
            change = f"{_short(old.get('pattern'))} -> {_short(new.get('pattern'))}"
            yield path, shift, f"pattern {change}"
        if old.get("uniqueItems", False) != new.get("uniqueItems", False):
            shift = "narrowed" if new.get("uniqueItems") else "widened"
            yield path, shift, "uniqueItems changed"
        if "items" in old or "items" in new:
            yield from self.compare(old.get("items", {}), new.get("items", {}), f"{path}[]")
        old_prefix, new_prefix = old.get("prefixItems", []), new.get("prefixItems", [])
        if len(old_prefix) != len(new_prefix):
            yield path, "changed", f"tuple of {len(old_prefix)} -> {len(new_prefix)} items"
        for i, (o, n) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            yield from self.compare(o, n, f"{path}[{i}]")
        yield from self._object(old, new, path)

    def _object(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> Iterator[tuple[str, Shift, str]]:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        for name in old_props:
            if name not in new_props:
                if new_extra is False:
                    yield f"{path}.{name}", "narrowed", "field removed (extra fields forbidden)"
                elif name in old_required:
                    yield f"{path}.{name}", "widened", "required field removed"
        for name in new_props:
            if name not in old_props:
                if name in new_required:
                    yield f"{path}.{name}", "narrowed", "required field added"
                elif old_extra is False:
                    yield f"{path}.{name}", "widened", "optional field added"
        for name in old_props.keys() & new_props.keys():
            if name in new_required and name not in old_required:
                yield f"{path}.{name}", "narrowed", "field became required"
            elif name in old_required and name not in new_required:
                yield f"{path}.{name}", "widened", "field became optional"
            yield from self.compare(old_props[name], new_props[name], f"{path}.{name}")
        if isinstance(old_extra, bool) and isinstance(new_extra, bool):
            if old_extra != new_extra:
                shift: Shift = "narrowed" if new_extra is False else "widened"
                yield path, shift, f"additionalProperties {old_extra} -> {new_extra}"
        elif old_extra != new_extra:
            yield from self.compare(
                {} if old_extra is True else old_extra,
                {} if new_extra is True else new_extra,
                f"{path}{{}}",
            )


def _bounds(
    old: Mapping[str, Any], new: Mapping[str, Any], path: str
) -> Iterator[tuple[str, Shift, str]]:
    for keys, lower in ((_LOWER, True), (_UPPER, False)):
        for key in keys:
            o, n = old.get(key), new.get(key)
            if o == n:
                continue
            if o is None:
                yield path, "narrowed", f"{key} {n} added"
            elif n is None:
                yield path, "widened", f"{key} {o} removed"
            else:
                shift: Shift = "narrowed" if (n > o if lower else n < o) else "widened"
                yield path, shift, f"{key} {o} -> {n}"
    if old.get("multipleOf") != new.get("multipleOf"):
        yield path, "changed", f"multipleOf {old.get('multipleOf')} -> {new.get('multipleOf')}"


def _ref(schema: Any) -> str | None:
    if isinstance(schema, Mapping):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            return ref[len(_DEFS) :]
    return None


def _without(schema: Any, key: str) -> Any:
    if isinstance(schema, Mapping):
        return {k: v for k, v in schema.items() if k != key}
    return schema


def _branches(schema: Mapping[str, Any]) -> list[Any] | None:
    for key in ("anyOf", "oneOf"):
        if key in schema and isinstance(schema[key], list):
            return list(schema[key])
    return None


_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated"})


def _strip(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k not in _ANNOTATIONS}
    return value


def _key(value: Any) -> str:
    return json.dumps(_strip(value), sort_keys=True)


def _types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    kinds = frozenset(kind if isinstance(kind, list) else [kind])
    # Every integer is a number: "integer" -> "number" widens.
    return kinds | {"integer"} if "number" in kinds else kinds


def _short(value: Any) -> str:
    if isinstance(value, frozenset):
        return "|".join(sorted(value))
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the rules ------------------------------------------------------------------------


def _type_changes(
    types: _Types, old: Any, new: Any, where: str, *, output: bool, rule: str
) -> Iterator[Change]:
    for path, shift, detail in types.compare(old, new):
        breaking = shift == "changed" or (shift == "widened" if output else shift == "narrowed")
        yield Change(rule, breaking, f"{where}{path}", f"{shift}: {detail}")


def _params(types: _Types, old: MethodSpec, new: MethodSpec) -> Iterator[Change]:
    name = old.name
    old_params = {p.name: p for p in old.params}
    new_params = {p.name: p for p in new.params}
    for param in old.params:
        if param.name not in new_params:
            yield Change("P1", True, f"{name}({param.name})", "param removed")
    for param in new.params:
        if param.name not in old_params:
            if param.required:
                yield Change("P2", True, f"{name}({param.name})", "required param added")
            else:
                yield Change("P3", False, f"{name}({param.name})", "optional param added")
    for param in new.params:
        before = old_params.get(param.name)
        if before is None:
            continue
        where = f"{name}({param.name})"
        if param.required and not before.required:
            yield Change("P4", True, where, "param became required")
        elif before.required and not param.required:
            yield Change("P5", False, where, "param became optional")
        if before.schema.get("default") != param.schema.get("default") and not param.required:
            yield Change(
                "P8",
                False,
                where,
                f"default {_short(before.schema.get('default'))} -> "
                f"{_short(param.schema.get('default'))}",
            )
        yield from _type_changes(types, before.schema, param.schema, where, output=False, rule="P6")
    common_old = [p.name for p in old.params if p.name in new_params]
    common_new = [p.name for p in new.params if p.name in old_params]
    if common_old != common_new:
        yield Change(
            "P7", True, name, f"params reordered {common_old} -> {common_new} (by-position calls)"
        )


def _errors(types: _Types, old: MethodSpec, new: MethodSpec) -> Iterator[Change]:
    old_errors: dict[str, ErrorSpec] = {e.name: e for e in old.errors}
    new_errors: dict[str, ErrorSpec] = {e.name: e for e in new.errors}
    for error in old.errors:
        after = new_errors.get(error.name)
        where = f"{old.name} !{error.name}"
        if after is None:
            yield Change("E1", True, where, "declared error removed")
            continue
        if after.code != error.code:
            yield Change("E3", True, where, f"error code {error.code} -> {after.code}")
        if after.data != error.data:
            yield from _type_changes(
                types, error.data or {}, after.data or {}, where, output=True, rule="E4"
            )
    for error in new.errors:
        if error.name not in old_errors:
            yield Change("E2", False, f"{new.name} !{error.name}", "declared error added")


def _peer_params(types: _Types, old: MethodSpec, new: MethodSpec) -> Iterator[Change]:
    # The server sends these params and existing clients' handlers validate them.
    where = f"peer {old.name}"
    old_params = {p.name: p for p in old.params}
    new_params = {p.name: p for p in new.params}
    for param in old.params:
        after = new_params.get(param.name)
        if after is None:
            yield Change(
                "C5",
                param.required,
                f"{where}({param.name})",
                "required param removed" if param.required else "optional param removed",
            )
        elif param.required and not after.required:
            yield Change("C6", True, f"{where}({param.name})", "param became optional")
    for param in new.params:
        before = old_params.get(param.name)
        if before is None:
            yield Change("C4", True, f"{where}({param.name})", "param added")
            continue
        yield from _type_changes(
            types, before.schema, param.schema, f"{where}({param.name})", output=True, rule="C7"
        )


def _peer_errors(types: _Types, old: MethodSpec, new: MethodSpec) -> Iterator[Change]:
    # Existing clients' handlers raise these errors; the server reads them.
    new_errors = {e.name: e for e in new.errors}
    for error in old.errors:
        after = new_errors.get(error.name)
        where = f"peer {old.name} !{error.name}"
        if after is None:
            yield Change("C9", False, where, "declared error removed")
        elif after.code != error.code:
            yield Change("C9", True, where, f"error code {error.code} -> {after.code}")
        elif after.data != error.data:
            yield from _type_changes(
                types, error.data or {}, after.data or {}, where, output=False, rule="C9"
            )
    old_names = {e.name for e in old.errors}
    for error in new.errors:
        if error.name not in old_names:
            yield Change("C9", False, f"peer {new.name} !{error.name}", "declared error added")


def _peer_changes(types: _Types, old: ApiSpec, new: ApiSpec) -> Iterator[Change]:
    # Peer methods run the other way: the server calls them and existing clients answer.
    # What flows into the server (results, error data) breaks when it narrows; what flows
    # out (params) when it widens.
    old_peers = {m.name: m for m in old.peer_methods}
    new_peers = {m.name: m for m in new.peer_methods}
    for name in sorted(old_peers.keys() - new_peers.keys()):
        yield Change("C1", False, f"peer {name}", "peer method removed (no longer called)")
    for name in sorted(new_peers.keys() - old_peers.keys()):
        yield Change("C2", True, f"peer {name}", "peer method added (existing clients lack it)")
    for name in sorted(old_peers.keys() & new_peers.keys()):
        before, after = old_peers[name], new_peers[name]
        if after.stream != before.stream:
            kind = "a stream" if after.stream else "a single result"
            yield Change("C3", True, f"peer {name}", f"peer method now returns {kind}")
        yield from _peer_params(types, before, after)
        yield from _type_changes(
            types, before.result, after.result, f"peer {name} -> result", output=False, rule="C8"
        )
        yield from _peer_errors(types, before, after)


def diff_specs(old: ApiSpec, new: ApiSpec) -> list[Change]:
    """Every change from ``old`` to ``new``, breaking ones first, then by place.

    Peer methods (``x-peer-methods``, called by the server) are compared too, with the
    directions reversed (rules ``C1``-``C9``).
    """
    types = _Types(old, new)
    changes: list[Change] = list(_peer_changes(types, old, new))
    old_methods = {m.name: m for m in old.methods}
    new_methods = {m.name: m for m in new.methods}
    for name in sorted(old_methods.keys() - new_methods.keys()):
        changes.append(Change("M1", True, name, "method removed"))
    for name in sorted(new_methods.keys() - old_methods.keys()):
        changes.append(Change("M2", False, name, "method added"))
    for name in sorted(old_methods.keys() & new_methods.keys()):
        before, after = old_methods[name], new_methods[name]
        if after.deprecated and not before.deprecated:
            changes.append(Change("M3", False, name, "method deprecated"))
        if after.stream != before.stream:
            kind = "a stream" if after.stream else "a single result"
            changes.append(Change("M4", True, name, f"method now returns {kind}"))
        changes.extend(_params(types, before, after))
        changes.extend(
            _type_changes(
                types, before.result, after.result, f"{name} -> result", output=True, rule="R1"
            )
        )
        changes.extend(_errors(types, before, after))
    return sorted(changes, key=lambda c: (not c.breaking, c.where, c.rule, c.detail))
