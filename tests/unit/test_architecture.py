"""The arrows of docs/architecture.md, read from the source: every import, including those made
for types only and inside functions, points one way."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "lockgate"


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


# lockgate's packages from the bottom up. A module may import its own package, the package root
# (`__version__`) and anything in a lower layer; never a sibling in its own layer or a layer above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("lockgate.common",),
    ("lockgate.workflow", "lockgate.store"),
    ("lockgate.testresults", "lockgate.actions", "lockgate.artifacts", "lockgate.host"),
    ("lockgate.engine", "lockgate.deploy"),
    ("lockgate.insights", "lockgate.flags", "lockgate.runners"),
    ("lockgate.server",),
    ("lockgate.cli",),
)
# Top-level modules counted with a package: the programs run on SSH hosts, `python -m lockgate`.
MEMBERS = {
    "lockgate.hostside": "lockgate.host",
    "lockgate.hostagent": "lockgate.host",
    "lockgate.hostserver": "lockgate.host",
    "lockgate.__main__": "lockgate.cli",
}


def _package(module: str) -> str | None:
    """The layered package a module belongs to."""
    if module in MEMBERS:
        return MEMBERS[module]
    for layer in LAYERS:
        for package in layer:
            if module == package or module.startswith(f"{package}."):
                return package
    return None


def _wrong_way(graph: dict[str, set[str]]) -> list[str]:
    level = {package: n for n, layer in enumerate(LAYERS) for package in layer}
    wrong = []
    for module, targets in sorted(graph.items()):
        mine = _package(module)
        for target in sorted(targets):
            theirs = _package(target)
            if target == "lockgate" or mine is None or theirs is None or theirs == mine:
                continue
            if level[theirs] >= level[mine]:
                wrong.append(f"{module} imports {target}")
    return wrong


def test_every_module_belongs_to_a_layer() -> None:
    assert [m for m in _imports() if m != "lockgate" and _package(m) is None] == []


def test_no_import_points_up_or_sideways() -> None:
    assert _wrong_way(_imports()) == []


def test_a_wrong_way_import_would_be_found() -> None:
    graph = {
        "lockgate.common.gitinfo": {"lockgate.engine.runner"},  # up
        "lockgate.engine.job": {"lockgate.deploy.fleet", "lockgate.store.database"},  # sideways
        "lockgate.hostside": {"lockgate.deploy.fleet"},
        "lockgate.cli.main": {"lockgate.engine.runner", "lockgate"},  # down: fine
    }
    assert _wrong_way(graph) == [
        "lockgate.common.gitinfo imports lockgate.engine.runner",
        "lockgate.engine.job imports lockgate.deploy.fleet",
        "lockgate.hostside imports lockgate.deploy.fleet",
    ]


def test_inside_deploy_strategies_stay_below_the_reconciler() -> None:
    forbidden = {
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
