"""The layer rule, checked on every module's imports (parsed with `ast`, never imported).

    core < engines < scheduler < models < pipeline < server < evaluation   (service/, newsmt)
    charsets < v1 < client < cli                                   (clients/python, newsmt-client)

A module imports only from its own layer or lower ones. Every import counts: top level, inside
functions, and under `TYPE_CHECKING`. Across the two distributions: the server may import the
contract (`v1`, in the servicers), and any of its layers may import `charsets` (pure functions
with no newsmt imports that read and write documents in any encoding: the CLI and the server's
file uploads must apply the same rules, the server distribution already depends on the client
one, and a module that imports nothing of newsmt cannot make a cycle); the client never
imports the server; `cli.serve`, `cli.smoke`, `cli.models` and `cli.eval` may import the
server, but only lazily (inside a function or under `TYPE_CHECKING`), so that the CLI runs
where only the client is installed.
And no cycles between modules.

Within the service, one way through: the pipeline talks to the models layer (`ServedModel`,
`models.codec.Codec`), the models to the batcher, the batcher to the engine. So `pipeline` and
`evaluation` import `engines` and `scheduler` for types only (`TYPE_CHECKING`), never to call
them. And the code stays readable: no function over `MAX_FUNCTION_LINES` lines, the Translator
under `MAX_TRANSLATOR_LINES`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "service", ROOT / "clients" / "python")

SERVICE = ("core", "engines", "scheduler", "models", "pipeline", "server", "evaluation")
CLIENT = ("charsets", "v1", "client", "cli")
#: CLI modules that may import the server distribution lazily.
SERVER_COMMANDS = {"newsmt.cli.serve", "newsmt.cli.smoke", "newsmt.cli.models", "newsmt.cli.eval"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (resolved to a module where `from X import mod` names one)
    lazy: bool  # inside a function or under TYPE_CHECKING
    line: int
    types_only: bool = False  # under TYPE_CHECKING: never executed


#: What `pipeline` and `evaluation` import from `engines` and `scheduler`, for types only:
#: `engines.base.Generated` (the rows a model's batcher hands back, read by `hops`) and
#: `engines.base.Engine` (the key memo's weak references in `unit_cache`; the engine eval opens
#: through `models.factory.open_engine` and drives itself, without a batcher).
TYPES_FROM_BELOW = {"newsmt.engines.base"}
MAX_FUNCTION_LINES = 80
#: Functions allowed over the limit, each with its reason.
LONG_FUNCTIONS: dict[str, str] = {}
MAX_TRANSLATOR_LINES = 250


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

    def visit(node: ast.AST, lazy: bool, types: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            child_types = types
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                child_lazy = child_types = True
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("newsmt."):
                        found.append(
                            Import(name, alias.name, child_lazy, child.lineno, child_types)
                        )
            elif (
                isinstance(child, ast.ImportFrom)
                and child.level == 0
                and child.module
                and child.module.startswith("newsmt.")
            ):
                for alias in child.names:
                    sub = f"{child.module}.{alias.name}"
                    target = sub if sub in known else child.module
                    found.append(Import(name, target, child_lazy, child.lineno, child_types))
            visit(child, child_lazy, child_types)

    visit(tree, False, False)
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
        # Documents in any encoding, read and written by the CLI's rules (no newsmt imports).
        if imp.target == "newsmt.charsets":
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


def reaches_around(imp: Import) -> str | None:
    """Why `imp` reaches around the models layer, or None."""
    source_top, target_top = imp.source.split(".")[1], imp.target.split(".")[1]
    if source_top not in {"pipeline", "evaluation"} or target_top not in {"engines", "scheduler"}:
        return None
    if imp.types_only and imp.target in TYPES_FROM_BELOW:
        return None
    return "the pipeline reaches an engine or the scheduler without the models layer"


def test_the_pipeline_and_eval_reach_engines_only_through_the_models(
    graph: dict[str, list[Import]],
) -> None:
    problems = [
        f"{imp.source}:{imp.line} -> {imp.target}: {why}"
        for imports in graph.values()
        for imp in imports
        if (why := reaches_around(imp)) is not None
    ]
    assert problems == []


def test_no_function_is_too_long_and_the_translator_stays_small() -> None:
    long: dict[str, int] = {}
    for name, path in modules().items():  # the server, the client and the CLI alike
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            qualified = f"{name}.{node.name}"
            if isinstance(node, ast.ClassDef):
                if qualified == "newsmt.pipeline.translate.Translator":
                    assert size < MAX_TRANSLATOR_LINES, f"Translator is {size} lines"
            elif size > MAX_FUNCTION_LINES and qualified not in LONG_FUNCTIONS:
                long[qualified] = size
    assert long == {}


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
    assert breaks(Import("newsmt.server.files", "newsmt.charsets", lazy=False, line=1)) is None
    assert breaks(Import("newsmt.pipeline.files", "newsmt.charsets", lazy=False, line=1)) is None
    assert breaks(Import("newsmt.charsets", "newsmt.v1", lazy=False, line=1))
    assert breaks(Import("newsmt.charsets", "newsmt.core.errors", lazy=False, line=1))
    engine = Import("newsmt.pipeline.hops", "newsmt.engines.base", lazy=True, line=1)
    assert reaches_around(engine)  # lazy, but executed
    assert reaches_around(Import(engine.source, engine.target, True, 1, types_only=True)) is None
    batcher = Import("newsmt.evaluation.runner", "newsmt.scheduler.batcher", True, 1, True)
    assert reaches_around(batcher)  # not one of the types allowed
    assert (
        reaches_around(Import("newsmt.models.pool", "newsmt.scheduler.batcher", False, 1)) is None
    )


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
    assert [(i.target, i.lazy, i.types_only) for i in found] == [
        ("newsmt.core.errors", False, False),
        ("newsmt.server.settings", True, True),
        ("newsmt.models.registry", True, False),
    ]
