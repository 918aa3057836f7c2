"""The module structure: every import points down the layers (channels → runtime → dialogs → the
bank's parts → kernel → models), no module imports another in a circle, counting the imports
inside functions and those only for type checkers, and the lists of flows and jobs name every
flow and job module (what is registered is what is listed)."""

from __future__ import annotations

import ast
from pathlib import Path

import bot
import bot.dialogs.flows
import bot.jobs
from bot.kernel.channels import CHANNELS

PROJECT = Path(bot.__file__).parent.parent
SCANNED = ("bot", "handlers")
# Top to bottom. A module may import its own layer and the layers below it, never one above.
LAYERS = ("composition", "channels", "runtime", "demo", "dialogs", "parts", "kernel", "models")


def layer(module: str) -> str:
    parts = module.split(".")
    if module in ("bot.__main__", "bot.runtime.cli"):
        return "composition"  # the one place that composes channels and the core
    if parts[0] == "handlers":
        return "channels"
    if parts[0] == "models":
        return "models"
    if module == "bot" or parts[1] == "kernel":
        return "kernel"
    if parts[1] in ("runtime", "demo"):
        return parts[1]
    # A part's flow and jobs speak the dialog's vocabulary and are handed every service: they sit
    # with the engine, above the part's rules; so do the tables of every service, flow and job.
    if parts[1] == "dialogs" or module in ("bot.services", "bot.jobs"):
        return "dialogs"
    if len(parts) > 2 and (parts[2] in ("flow", "jobs") or parts[2].endswith(("_flow", "_jobs"))):
        return "dialogs"
    return "parts"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str, known: set[str]) -> dict[str, str]:
    """Every project module a module imports → how: at the top level, inside a function or only
    for type checkers (`if TYPE_CHECKING:`)."""
    found: dict[str, str] = {}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def add(target: str, how: str) -> None:
        if target in known and target != name:
            found.setdefault(target, how)

    def visit(node: ast.AST, how: str) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                visit(statement, "type-checking")
            for statement in node.orelse:
                visit(statement, how)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            how = "function" if how == "top" else how
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, how)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            add(base, how)
            for alias in node.names:  # `from package import module`
                add(f"{base}.{alias.name}", how)
        for child in ast.iter_child_nodes(node):
            visit(child, how)

    visit(ast.parse(path.read_text()), "top")
    return found


def project() -> dict[str, Path]:
    files = {module_name(p): p for folder in (*SCANNED, "models") for p in (PROJECT / folder).rglob("*.py")}
    return files


def import_graph() -> dict[str, dict[str, str]]:
    files = project()
    return {name: imports(path, name, set(files)) for name, path in files.items() if name.split(".")[0] in SCANNED}


def upward(graph: dict[str, dict[str, str]]) -> list[str]:
    wrong = []
    for name, targets in sorted(graph.items()):
        for target, how in sorted(targets.items()):
            if LAYERS.index(layer(target)) < LAYERS.index(layer(name)):
                wrong.append(f"{name} ({layer(name)}) imports {target} ({layer(target)}) [{how}]")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), counting a package's
    imports of its parts and their imports of it: a package that imports its parts while they
    import it back (even only for type checkers) is a circle a reader has to untangle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
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


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"p": set(), "p.x": {"p"}}) == []  # a part importing its package
    assert cycles({"p": {"p.x"}, "p.x": {"p"}}) == [["p", "p.x"]]  # ... which imports it back
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nimport x.a\nif TYPE_CHECKING:\n    from x import b\n"
        "def f():\n    from x.c import thing\n"
    )
    assert imports(source, "m", {"x.a", "x.b", "x.c"}) == {"x.a": "top", "x.b": "type-checking", "x.c": "function"}
    assert upward({"bot.kernel.clock": {"bot.shop.service": "function"}}) == [
        "bot.kernel.clock (kernel) imports bot.shop.service (parts) [function]"
    ]
    assert layer("bot.shop.flow") == layer("bot.dialogs.engine") == "dialogs"
    assert layer("bot.shop.service") == "parts" and layer("handlers.wechat.tokens") == "channels"


def test_every_import_points_down() -> None:
    assert upward(import_graph()) == []


def test_no_import_cycles_counting_function_and_type_checking_imports() -> None:
    graph = {name: set(targets) for name, targets in import_graph().items()}
    assert cycles(graph) == []


def test_nothing_left_in_the_old_folders() -> None:
    """bot/ holds the kernel, dialogs, runtime, demo, every part as a package, and the tables of
    every service (services.py) and job (jobs.py): no loose module grows back."""
    loose = {p.name for p in (PROJECT / "bot").glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "services.py", "jobs.py"}
    assert [p for old in ("flows", "jobs", "services") for p in (PROJECT / "bot" / old).rglob("*.py")] == []


def test_every_flow_and_job_module_is_listed() -> None:
    modules = set(project())
    flows = {m for m in modules if m.split(".")[-1] == "flow" or m.endswith("_flow")} | {"bot.dialogs.common"}
    table = bot.dialogs.flows.TABLE
    listed = {c.handler.__module__ for c in table.commands.values()} | {h.__module__ for h in table.steps.values()}
    assert listed == flows - {"bot.privacy.consent_flow"}  # the notice other flows show, nothing of its own
    jobs = {m for m in modules if m.startswith("bot.") and (m.split(".")[-1] == "jobs" or m.endswith("_jobs"))}
    assert set(bot.jobs.JOB_MODULES) == jobs - {"bot.jobs"}
    assert set(bot.jobs.load()) >= {"reminders", "expire-requests", "inbox-prune"}


def test_every_step_a_flow_goes_to_is_in_the_table() -> None:
    """`ctx.goto("log", "date")` in a flow names a step the table must list, or the person's
    next message there would find nothing to answer it."""
    files = project()
    named = set()
    for module, path in files.items():
        if module.startswith("bot.") and layer(module) == "dialogs":
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "goto":
                    flow, step = [*node.args, None, None][:2]
                    if isinstance(flow, ast.Constant) and isinstance(step, ast.Constant):
                        named.add((flow.value, step.value))
    assert len(named) > 40
    assert sorted(named - set(bot.dialogs.flows.TABLE.steps)) == []


def channel_names_in_rules(path: Path) -> list[str]:
    """Where a module compares something with a channel's name (`Identity.channel == "wechat"`,
    `channel in ("telegram", …)`): a rule that depends on which channel a person is on."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            names = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in CHANNELS]
            found += [f"{path.name}:{node.lineno} {name}" for name in names]
    return found


def test_the_checker_sees_a_channel_named_in_a_rule(tmp_path: Path) -> None:
    rule = tmp_path / "rule.py"
    rule.write_text('on = Identity.channel == "wechat"\nok = channel in FORWARD_BY_HAND\n')
    assert channel_names_in_rules(rule) == ["rule.py:1 wechat"]


def test_flows_name_no_channel() -> None:
    """A flow (and the engine) asks what a channel can do (`SHARES_CONTACT`), never which one it is."""
    files = project()
    flows = [files[m] for m in files if m.startswith("bot.") and layer(m) == "dialogs"]
    assert any(path.name == "flow.py" for path in flows)
    assert [hit for path in flows for hit in channel_names_in_rules(path)] == []


def test_the_banks_rules_name_no_channel() -> None:
    """Services decide without knowing the channel: what a channel can or cannot do is asked of
    bot/kernel/channels.py, and the channel's own matters live in handlers/."""
    files = project()
    rules = [files[m] for m in files if m.startswith("bot.") and layer(m) == "parts"]
    assert len(rules) > 30
    assert [hit for path in rules for hit in channel_names_in_rules(path)] == []
