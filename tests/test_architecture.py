"""The arrows of docs/architecture.md, read from the source: every import, including those made
for types only and inside functions, points one way."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "lockgate"


def _modules() -> dict[str, Path]:
    found = {}
    for path in SOURCE.rglob("*.py"):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports() -> dict[str, set[str]]:
    """module -> the lockgate modules it imports (a `from package import module` counts as the
    module, not the package)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                if not node.level:
                    target = node.module or ""
                named = [f"{target}.{alias.name}" for alias in node.names]
                found = [n for n in named if n in modules]
                targets = found if len(found) == len(named) else [target, *found]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _cycles(_imports()) == []


def test_a_cycle_would_be_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_lower_layers_never_import_higher_ones() -> None:
    forbidden = {
        "lockgate.workflow": ("lockgate.engine", "lockgate.deploy", "lockgate.cli"),
        "lockgate.store": ("lockgate.engine", "lockgate.deploy", "lockgate.cli"),
        "lockgate.engine": ("lockgate.deploy", "lockgate.cli"),
        "lockgate.deploy": ("lockgate.engine", "lockgate.cli"),
        "lockgate.deploy.strategies": ("lockgate.deploy.reconciler", "lockgate.deploy.fleet"),
        "lockgate.deploy.targets": ("lockgate.deploy.strategies", "lockgate.deploy.reconciler"),
        "lockgate.deploy.traffic": ("lockgate.deploy.strategies", "lockgate.deploy.reconciler"),
    }
    wrong = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        for layer, above in forbidden.items()
        if module == layer or module.startswith(f"{layer}.")
        for target in targets
        if any(target == a or target.startswith(f"{a}.") for a in above)
    ]
    assert wrong == []
