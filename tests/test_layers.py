"""The layer rule, checked on every module's imports (parsed with `ast`, never imported).

    core < engines < scheduler < models < pipeline < server < evaluation   (service/, newsmt)
    v1 < client < cli                                              (clients/python, newsmt-client)

A module imports only from its own layer or lower ones. Every import counts: top level, inside
functions, and under `TYPE_CHECKING`. Across the two distributions: the server may import the
contract (`v1`, in the servicers); the client never imports the server; `cli.serve`,
`cli.smoke`, `cli.models` and `cli.eval` may import the server, but only lazily (inside a
function or under `TYPE_CHECKING`), so that the CLI runs where only the client is installed.
And no cycles between modules.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "service", ROOT / "clients" / "python")

SERVICE = ("core", "engines", "scheduler", "models", "pipeline", "server", "evaluation")
CLIENT = ("v1", "client", "cli")
#: CLI modules that may import the server distribution lazily.
SERVER_COMMANDS = {"newsmt.cli.serve", "newsmt.cli.smoke", "newsmt.cli.models", "newsmt.cli.eval"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (resolved to a module where `from X import mod` names one)
    lazy: bool  # inside a function or under TYPE_CHECKING
    line: int


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in SOURCES:
        for path in (root / "newsmt").rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if name.startswith("newsmt.v1.") and name.endswith(("_pb2", "_pb2_grpc")):
                continue  # generated
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                child_lazy = True
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("newsmt."):
                        found.append(Import(name, alias.name, child_lazy, child.lineno))
            elif (
                isinstance(child, ast.ImportFrom)
                and child.level == 0
                and child.module
                and child.module.startswith("newsmt.")
            ):
                for alias in child.names:
                    sub = f"{child.module}.{alias.name}"
                    target = sub if sub in known else child.module
                    found.append(Import(name, target, child_lazy, child.lineno))
            visit(child, child_lazy)

    visit(tree, False)
    return found


def layer(module: str) -> tuple[str, int]:
    """(distribution, rank) of a newsmt module."""
    top = module.split(".")[1]
    if top in SERVICE:
        return "service", SERVICE.index(top)
    if top in CLIENT:
        return "client", CLIENT.index(top)
    raise AssertionError(f"{module}: not in any layer; add its package to tests/test_layers.py")


def breaks(imp: Import) -> str | None:
    """Why `imp` breaks the rule, or None."""
    (src_dist, src_rank), (dst_dist, dst_rank) = layer(imp.source), layer(imp.target)
    if src_dist == dst_dist:
        if dst_rank > src_rank:
            return "imports a higher layer"
        return None
    if src_dist == "service":
        # The servicers turn protobuf into domain objects and back: the contract is below them.
        if imp.target.startswith("newsmt.v1") and imp.source.startswith("newsmt.server."):
            return None
        return "the server imports the client distribution"
    if imp.source in SERVER_COMMANDS and imp.lazy:
        return None
    return "the client imports the server distribution" + (
        "" if imp.source in SERVER_COMMANDS else " (only serve, smoke, models and eval may, lazily)"
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def test_every_module_is_in_a_layer(graph: dict[str, list[Import]]) -> None:
    assert len(graph) > 40
    for name in graph:
        layer(name)


def test_no_layer_breaks(graph: dict[str, list[Import]]) -> None:
    problems = [
        f"{imp.source}:{imp.line} -> {imp.target}: {why}"
        for imports in graph.values()
        for imp in imports
        if (why := breaks(imp)) is not None
    ]
    assert problems == []


def test_no_import_cycles(graph: dict[str, list[Import]]) -> None:
    edges = {
        name: {imp.target for imp in imports if imp.target in graph and imp.target != name}
        for name, imports in graph.items()
    }
    assert find_cycles(edges) == []


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return cycles


# The checker itself must be able to fail.


def test_checker_finds_a_cycle_and_breaks() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    up = Import("newsmt.engines.base", "newsmt.models.registry", lazy=True, line=1)
    assert breaks(up) == "imports a higher layer"
    eager = Import("newsmt.cli.serve", "newsmt.server.settings", lazy=False, line=1)
    assert breaks(eager) is not None
    assert breaks(Import("newsmt.cli.serve", "newsmt.server.settings", lazy=True, line=1)) is None
    assert breaks(Import("newsmt.cli.text", "newsmt.server.settings", lazy=True, line=1))
    assert breaks(Import("newsmt.client._client", "newsmt.v1", lazy=False, line=1)) is None
    assert breaks(Import("newsmt.pipeline.translate", "newsmt.v1", lazy=False, line=1))


def test_imports_are_found_inside_functions_and_type_checking(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import newsmt.core.errors\n"
        "if TYPE_CHECKING:\n"
        "    from newsmt.server.settings import Settings\n"
        "def f():\n"
        "    from newsmt.models import registry\n",
        encoding="utf-8",
    )
    found = imports_of("newsmt.engines.m", source, {"newsmt.models.registry"})
    assert [(i.target, i.lazy) for i in found] == [
        ("newsmt.core.errors", False),
        ("newsmt.server.settings", True),
        ("newsmt.models.registry", True),
    ]
