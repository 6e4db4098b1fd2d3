"""The runtime's import graph: no cycles (the layer rules themselves are import-linter
contracts in pyproject.toml, run by the test command)."""

from __future__ import annotations

import grimp


def runtime_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("wsrpc_typed", exclude_type_checking_imports=True)
    return {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``edges``, as a path that returns to its start, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(edges.get(module, ())):
            cycle = visit(imported)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(edges):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_runtime_modules_import_each_other_without_cycles() -> None:
    graph = runtime_graph()
    assert len(graph) > 20  # the whole package was read
    assert find_cycle(graph) is None
