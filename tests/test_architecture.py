"""The package's layering rules, checked on its source (parsed with ``ast``, never imported).

Every import counts: module-level, inside functions (the deferred imports that keep
commands light) and under ``TYPE_CHECKING``. A node of the import graph is a
subpackage (``sweep``, ``tracking``, ...) or a top-level module (``config``,
``spec``, ...); ``cifarsweep`` itself is the root package's ``__init__``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cifarsweep"
ROOT = "cifarsweep"

# analysis/ files that still import optuna while issue 13 moves their Optuna access behind a
# reader in stores/ or sweep/. Empty this once that lands; a listed file that no longer
# imports optuna fails test_optuna_exemptions_are_not_stale.
ANALYSIS_OPTUNA_PENDING: set[str] = set()

# Package-level imports that close a cycle, each with why it is tolerated. Ideally none.
ALLOWED_BACK_EDGES: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@cache
def imports(path: Path) -> tuple[str, ...]:
    """Every module name ``path`` imports, anywhere in the file (``from a import b`` gives a and a.b)."""
    names = []
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base != ROOT:  # ``from cifarsweep import x`` imports x (the root runs for any import)
                names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return tuple(names)


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def importers_of(top_level: str) -> set[str]:
    """Files (``cifarsweep/...``) that import ``top_level`` or one of its submodules."""
    return {
        _relative(path)
        for path in modules().values()
        if any(name == top_level or name.startswith(top_level + ".") for name in imports(path))
    }


def node_of(module: str) -> str | None:
    """The graph node of a ``cifarsweep`` module name; None for anything outside the package."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    if len(parts) == 1 or module not in modules() and ".".join(parts[:2]) not in modules():
        return ROOT  # the root package, or a name it defines (``from cifarsweep import __version__``)
    return parts[1]


def package_graph() -> dict[str, dict[str, set[str]]]:
    """source node -> target node -> the files whose imports draw that arrow."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for name, path in modules().items():
        source = node_of(name)
        assert source is not None
        for imported in imports(path):
            target = node_of(imported)
            if target is not None and target != source:
                graph[source][target].add(_relative(path))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def outside(files: set[str], *folders: str) -> set[str]:
    """The files not under any of ``cifarsweep/<folder>/``."""
    return {path for path in files if not path.startswith(tuple(f"{ROOT}/{folder}/" for folder in folders))}


def test_the_scan_sees_imports_at_every_level():
    # Guards the checks below against passing vacuously: deferred and TYPE_CHECKING imports are found.
    assert f"{ROOT}/tracking/client.py" in importers_of("mlflow")  # inside functions only
    assert f"{ROOT}/sweep/study.py" in importers_of("optuna")
    assert "cifarsweep.trainer.results" in imports(PACKAGE / "trainer" / "__init__.py")  # under TYPE_CHECKING
    graph = package_graph()
    assert "tracking" in graph["sweep"] and "config" in graph["trainer"]


def test_mlflow_is_imported_only_under_tracking():
    assert outside(importers_of("mlflow"), "tracking") == set()


def test_optuna_is_imported_only_under_sweep_and_stores():
    elsewhere = outside(importers_of("optuna"), "sweep", "stores")
    assert elsewhere - {f"{ROOT}/analysis/{name}" for name in ANALYSIS_OPTUNA_PENDING} == set()


def test_optuna_exemptions_are_not_stale():
    still_importing = {path.rpartition("/")[2] for path in importers_of("optuna") if "/analysis/" in path}
    assert ANALYSIS_OPTUNA_PENDING <= still_importing, "empty ANALYSIS_OPTUNA_PENDING of the files now clean"


def test_the_trainer_imports_neither_mlflow_nor_optuna():
    trainer = {path for path in importers_of("mlflow") | importers_of("optuna") if path.startswith(f"{ROOT}/trainer/")}
    assert trainer == set()


def test_nothing_imports_the_cli():
    # The CLI sits on top: a library module importing it would drag Typer into every caller.
    entry_points = {f"{ROOT}/__main__.py"}
    assert outside(importers_of(f"{ROOT}.cli"), "cli") - entry_points == set()


def test_allowed_back_edges_still_exist():
    graph = package_graph()
    for source, target in ALLOWED_BACK_EDGES:
        assert target in graph[source], f"{source} -> {target} is gone: drop it from ALLOWED_BACK_EDGES"


def test_no_import_cycle_between_packages():
    graph = package_graph()
    for source, target in ALLOWED_BACK_EDGES:
        graph[source].pop(target, None)
    found = cycles(graph)
    arrows = [
        f"{source} -> {target} ({', '.join(sorted(files))})"
        for component in found
        for source in component
        for target, files in sorted(graph[source].items())
        if target in component
    ]
    assert found == [], "import cycles between packages:\n" + "\n".join(arrows)


# -- the house a newcomer reads (issue 24) -----------------------------------------------------
# The leaf utilities that stay at the top: each imports nothing of the project but each other.
TOP_LEVEL_MODULES = {"console", "errors", "formatting", "metrics", "pauses"}
# What the CLI may import besides the public API and itself: leaf utilities and the record's vocabulary.
CLI_MAY_IMPORT = {"api", "cli", "console", "errors", "formatting", "metrics", "tracking.schema", "stores.urls"}
MAX_FUNCTION_LINES = 60  # a function's body, after its signature and docstring
MAX_LOOP_LINES = 90  # the training loop may reach this
LONG_FUNCTIONS_PENDING: set[str] = set()  # a long function being split, with the issue that splits it


def test_at_most_five_single_file_modules_at_the_top():
    single = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert single == TOP_LEVEL_MODULES, f"top-level modules {sorted(single)}: give new ones a package"
    assert len(single) <= 5


def test_the_cli_sits_on_the_public_api():
    imported = set()
    for path in (PACKAGE / "cli").rglob("*.py"):
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == ROOT and len(parts) > 1 and name in modules():
                imported.add(
                    (_relative(path), ".".join(parts[1:3]) if parts[1] in ("tracking", "stores") else parts[1])
                )
    outside_api = sorted(
        f"{path} imports cifarsweep.{target}" for path, target in imported if target not in CLI_MAY_IMPORT
    )
    assert outside_api == [], "the CLI calls cifarsweep.api, not the engine:\n" + "\n".join(outside_api)


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    return (node.end_lineno or node.lineno) - body[0].lineno + 1


def test_no_long_function():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"
                limit = MAX_LOOP_LINES if where == "trainer/loop.py:fit" else MAX_FUNCTION_LINES
                if _body_lines(node) > limit and where not in LONG_FUNCTIONS_PENDING:
                    long.append(f"{where} ({_body_lines(node)} lines)")
    assert long == [], "split these into steps:\n" + "\n".join(long)


def test_no_two_public_functions_share_a_name():
    # A CLI command is named after the API call it makes: that is one meaning, not two.
    seen: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "cli":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                seen[node.name].append(_relative(path))
    shared = {name: files for name, files in seen.items() if len(files) > 1}
    assert shared == {}, f"one name, several meanings: {shared}"
