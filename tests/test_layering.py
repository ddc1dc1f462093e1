"""The package imports only downwards and has no import cycle (shared/DESIGN.md, "One library").

The graph is read from the source with `ast`, function-level imports included: an import inside a
function is still an arrow a reader follows, and a cycle through it is still a knot in the design.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import streamlab

PACKAGE_ROOT = Path(streamlab.__file__).resolve().parent

#: The layers of shared/DESIGN.md's table, lowest first. A module may import from its own layer or
#: any layer below; the first dotted part of its name under `streamlab` says its layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "paths", "polling", "crashpoints"),
    ("measure",),      # latency recording: pure primitives used by services and experiments alike
    ("domain",),
    ("codecs",),
    ("transport",),
    ("stack",),
    ("pipeline", "services"),
    ("bench",),       # the reusable benchmark harness: workloads, drivers, runs, warm-up
    ("experiments",),
    ("plots",),
    ("book",),
    ("cli",),
)

#: Arrows that break the order today in modules another branch is splitting (issue 10, item 5:
#: the tour's charts move to `plots`). A gone exception only warns, so that split can land first.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


def module_name(root: Path, path: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runtime_nodes(tree: ast.AST):
    """Every node of the tree except the bodies of `if TYPE_CHECKING:` blocks, which never run: a type-only
    import lets a checker see a name without an import at run time, so it is neither an arrow nor a cycle."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def import_graph(root: Path, package: str = "streamlab") -> dict[str, set[str]]:
    """module → the package's modules it imports (anywhere in the file, functions included)."""
    files = {module_name(root, p, package): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                # `from .pkg import module` imports the module; `from .module import name` the module
                candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for target in candidates:
                while target and target not in files:  # `import a.b.c` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target.startswith(package) and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for index, names in enumerate(layers):
        if top in names:
            return index
    raise LookupError(f"{module} is in no layer: add `{top}` to LAYERS (and to DESIGN.md's table)")


def upward_imports(graph: Mapping[str, Iterable[str]],
                   layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[tuple[str, str]]:
    """Every arrow from a module to a module of a higher layer."""
    return sorted((src, dst) for src, targets in graph.items() for dst in targets
                  if src.count(".") and dst.count(".") and layer_of(dst, layers) > layer_of(src, layers))


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return sorted(cycles)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE_ROOT)


def test_every_module_has_a_layer(graph):
    for module in graph:
        if module != "streamlab":
            layer_of(module)


def test_imports_go_only_downwards(graph):
    found = set(upward_imports(graph))
    stale = KNOWN_EXCEPTIONS - found
    if stale:
        warnings.warn(f"these exceptions are gone, drop them from KNOWN_EXCEPTIONS: {sorted(stale)}", stacklevel=2)
    arrows = sorted(found - KNOWN_EXCEPTIONS)
    assert not arrows, "imports that go up a layer:\n" + "\n".join(f"  {a} -> {b}" for a, b in arrows)


def test_no_import_cycle(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in cycles)


# The checks themselves must be able to fail: a synthetic tree with one arrow of each kind.

def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "streamlab" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "streamlab"


def test_a_synthetic_bad_tree_is_caught(tmp_path):
    root = _write(tmp_path, {
        "__init__.py": "",
        "errors.py": "",
        "transport/__init__.py": "",
        # a back end that knows the application, inside a function (still an arrow)
        "transport/rabbit.py": "def declare():\n    from ..pipeline.topics import ALL\n",
        "pipeline/__init__.py": "",
        "pipeline/topics.py": "from streamlab.transport import rabbit\nALL = []\n",
        "stack/__init__.py": "from .a import x\n",
        "stack/a.py": "import streamlab.stack.b\nx = 1\n",
        "stack/b.py": "from . import a\n",
        "domain/__init__.py": "from .. import errors\n",  # downwards: fine
    })
    graph = import_graph(root)
    assert graph["streamlab.transport.rabbit"] == {"streamlab.pipeline.topics"}
    assert upward_imports(graph) == [("streamlab.transport.rabbit", "streamlab.pipeline.topics")]
    assert import_cycles(graph) == [
        ["streamlab.pipeline.topics", "streamlab.transport.rabbit"],
        ["streamlab.stack.a", "streamlab.stack.b"],
    ]


def test_type_only_imports_are_not_arrows_but_their_else_branch_is(tmp_path):
    root = _write(tmp_path, {
        "__init__.py": "",
        "stack/__init__.py": "",
        "stack/a.py": "from typing import TYPE_CHECKING\nfrom . import b\n",
        "stack/b.py": ("import typing\nif typing.TYPE_CHECKING:\n    from .a import A\n"
                       "else:\n    from . import c\n"),
        "stack/c.py": "",
    })
    graph = import_graph(root)
    assert graph["streamlab.stack.b"] == {"streamlab.stack.c"}
    assert import_cycles(graph) == []


def test_a_module_outside_every_layer_is_named(tmp_path):
    with pytest.raises(LookupError, match="`loose` to LAYERS"):
        layer_of("streamlab.loose")


def test_the_real_tree_is_read(graph):
    """Guards the guard: an empty or broken graph would pass every check above."""
    assert len(graph) > 50
    assert "streamlab.codecs.base" in graph["streamlab.codecs.avro_codec"]
