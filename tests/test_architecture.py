"""The house rules, checked on the source: arrows, rooms, sizes and public names.

- Data moves one way and the shared core imports no stage: ``goodwill/`` (the kernel),
  ``config/``, ``store/`` and ``customers/`` import none of ``collector/``, ``scoring/``,
  ``alerts/``, ``dashboard/``, ``service/``; the kernel imports nothing but itself.
- No import cycle between modules (imports inside functions and under ``TYPE_CHECKING``
  count: a cycle hidden there is still one).
- Only the store package holds a MongoDB collection (``.collection(``).
- No module over 800 lines; the kernel under 3,000.
- Every module declares ``__all__``, naming only what it defines, and every public class
  and function it defines (Typer commands, reached through their app, excepted).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "goodwill",
    "config",
    "store",
    "customers",
    "collector",
    "scoring",
    "alerts",
    "dashboard",
    "service",
)
STAGES = ("collector", "scoring", "alerts", "dashboard", "service")
CORE = ("goodwill", "config", "store", "customers")
MAX_LINES = 800
MAX_KERNEL_LINES = 3000


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    module_name(path): path
    for package in PACKAGES
    for path in sorted((ROOT / package).rglob("*.py"))
    if "model" not in path.relative_to(ROOT).parts[1:-1]  # bundled model files, not code
}
TREES: dict[str, ast.Module] = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def first_party(name: str) -> str | None:
    """The longest known module that ``name`` is or lies in (``None`` for third-party)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in MODULES:
            return ".".join(parts)
        parts.pop()
    return None


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """First-party modules ``module`` imports anywhere in its body, with the line."""
    tree = TREES[module]
    is_package = MODULES[module].name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (found := first_party(alias.name)) is not None:
                    yield found, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                found = first_party(f"{target}.{alias.name}") or first_party(target)
                if found is not None:
                    yield found, node.lineno


GRAPH: dict[str, set[str]] = {
    module: {target for target, _ in imports_of(module) if target != module} for module in MODULES
}


def test_the_rules_see_every_package() -> None:
    """A guard on the test itself: it parsed the code it is meant to judge."""
    for package in PACKAGES:
        assert package in MODULES, package
    assert len(MODULES) > 80
    assert GRAPH["store.database"] >= {"store.mentions", "goodwill.errors"}


@pytest.mark.parametrize("package", CORE)
def test_the_shared_core_imports_no_stage(package: str) -> None:
    wrong = sorted(
        f"{module}:{line} imports {target}"
        for module in MODULES
        if module.split(".")[0] == package
        for target, line in imports_of(module)
        if target.split(".")[0] in STAGES
    )
    assert not wrong, "\n".join(wrong)


def test_the_kernel_imports_only_itself() -> None:
    wrong = sorted(
        f"{module}:{line} imports {target}"
        for module in MODULES
        if module.split(".")[0] == "goodwill"
        for target, line in imports_of(module)
        if target.split(".")[0] != "goodwill"
    )
    assert not wrong, "\n".join(wrong)


def test_the_store_imports_no_customer_code() -> None:
    wrong = sorted(
        f"{module}:{line} imports {target}"
        for module in MODULES
        if module.split(".")[0] == "store"
        for target, line in imports_of(module)
        if target.split(".")[0] == "customers"
    )
    assert not wrong, "\n".join(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    # A package importing its own modules (its __init__ re-exporting them) is not a cycle
    # of the code; drop the edges from a package to what lies inside it.
    graph = {
        module: {t for t in targets if not t.startswith(module + ".")}
        for module, targets in GRAPH.items()
    }
    assert cycles(graph) == []


def test_only_the_store_holds_a_collection() -> None:
    wrong = sorted(
        f"{module}:{node.lineno}"
        for module, tree in TREES.items()
        if module.split(".")[0] != "store"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "collection"
    )
    assert not wrong, "raw collections outside store/: " + ", ".join(wrong)


def test_no_module_is_over_800_lines_and_the_kernel_is_small() -> None:
    long = sorted(
        f"{module} ({lines})"
        for module, path in MODULES.items()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    )
    assert not long, "modules over 800 lines: " + ", ".join(long)
    kernel = sum(
        len(path.read_text().splitlines())
        for module, path in MODULES.items()
        if module.split(".")[0] == "goodwill"
    )
    assert kernel < MAX_KERNEL_LINES


def _is_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A Typer command or callback: registered by its decorator, reached through the app."""
    return any(
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ("command", "callback")
        for decorator in node.decorator_list
    )


def public_names(tree: ast.Module) -> tuple[set[str], set[str], list[str] | None]:
    """(every top-level name defined, public classes and functions, ``__all__`` or None)."""
    defined: set[str] = set()
    public: set[str] = set()
    declared: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
            if not node.name.startswith("_") and not (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_command(node)
            ):
                public.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        if name.id == "__all__" and node.value is not None:
                            declared = list(ast.literal_eval(node.value))
                        else:
                            defined.add(name.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.If | ast.Try):  # TYPE_CHECKING imports, try/except imports
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    defined.update(
                        (alias.asname or alias.name).split(".")[0] for alias in inner.names
                    )
    return defined, public, declared


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_declares_its_public_names(module: str) -> None:
    defined, public, declared = public_names(TREES[module])
    assert declared is not None, f"{module} has no __all__"
    assert len(declared) == len(set(declared)), f"{module}: a name twice in __all__"
    unknown = sorted(set(declared) - defined)
    assert not unknown, f"{module}: __all__ names what it does not define: {unknown}"
    missing = sorted(public - set(declared))
    assert not missing, f"{module}: public but not in __all__: {missing}"


def test_the_public_names_check_can_fail() -> None:
    tree = ast.parse("__all__ = ['a']\ndef a(): ...\ndef b(): ...\nclass _C: ...\n")
    defined, public, declared = public_names(tree)
    assert declared == ["a"] and {"a", "b", "_C"} <= defined
    assert public - set(declared) == {"b"}
