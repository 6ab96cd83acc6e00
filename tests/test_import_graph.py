"""The framework's modules import each other without a cycle.

Every ``import`` and ``from ... import`` statement of every module under framework/
counts, the ones inside functions too (a lazy import only hides a cycle until the
function runs). A cycle means two modules each need the other to be read first:
the layering of docs/architecture.md says which one is below.
"""
import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "framework"


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    """{dotted name: (path, is a package)} of every module under framework/."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = Path(folder) / name
                found[_module_name(path)] = (path, name == "__init__.py")
    return found


def _edges(name, path, is_package, modules):
    """The framework modules ``name`` imports, anywhere in its body."""
    package = name if is_package else name.rsplit(".", 1)[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else source)
    return {t for t in targets if t in modules and t != name}


def _graph():
    modules = _modules()
    return {name: _edges(name, path, is_package, modules)
            for name, (path, is_package) in modules.items()}


def _find_cycle(graph):
    """One cycle as a list of modules, or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_framework_has_no_import_cycle():
    graph = _graph()
    assert len(graph) > 40 and "framework.net" in graph["framework"]
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_lower_modules_never_import_the_net_or_the_package():
    graph = _graph()
    for name, targets in graph.items():
        if name != "framework":
            assert "framework" not in targets, f"{name} imports the framework package"
    for low in ("framework.layers.base", "framework.parameter", "framework.optimizers",
                "framework.losses", "framework.state", "framework.step",
                "framework.infra.serialization.loader", "framework.infra.memory"):
        reached, todo = set(), [low]
        while todo:
            for target in graph[todo.pop()] - reached:
                reached.add(target)
                todo.append(target)
        assert "framework.net" not in reached, f"{low} reaches framework.net"
