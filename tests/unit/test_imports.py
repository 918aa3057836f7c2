"""The module structure: no import cycles among the bot's modules, and the registries list every
flow and job module (what is registered is what is listed)."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import bot
import bot.dialogs.flows
import bot.jobs

ROOT = Path(bot.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The bot modules a module imports when it is imported: its top-level statements, not the
    imports inside functions nor those only for type checkers."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    visit(tree.body)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {
        name: _top_level_imports(ast.parse(path.read_text()), name, path.name == "__init__.py", set(files))
        for name, path in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), with a package's import
    of its own submodules left out: `bot.dialogs.flows` importing `bot.hours.flow`, which Python runs as
    part of importing the package, is the package listing its parts, not a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def edges(node: str) -> set[str]:
        return {m for m in graph[node] if not m.startswith(node + ".") and not node.startswith(m + ".")}

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges(node):
            if nxt not in index:
                connect(nxt)
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
            connect(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"p": {"p.x"}, "p.x": {"p"}}) == []  # a package and its part


def test_no_import_cycles_among_the_bots_modules() -> None:
    assert cycles(import_graph()) == []


def test_every_flow_and_job_module_is_listed() -> None:
    flows = {m.name for m in pkgutil.iter_modules(bot.dialogs.flows.__path__)}
    assert {m.__name__.rpartition(".")[2] for m in bot.dialogs.flows.FLOWS} == flows
    assert set(bot.jobs.JOB_MODULES) == {m.name for m in pkgutil.iter_modules(bot.jobs.__path__)}
    assert set(bot.jobs.load()) >= {"reminders", "expire-requests", "inbox-prune"}
