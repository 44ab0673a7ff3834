"""The house rules, read from the source: no import circle (function-level imports included), small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "experiments"
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every package module that ``path`` imports anywhere in its body (inside functions too; not the
    ``if TYPE_CHECKING:`` imports of annotations, which never run)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    tree = ast.parse(path.read_text())
    typing_only = {  # `if TYPE_CHECKING:` imports are for annotations and never run
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module_name(path):
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    # A package's __init__ re-exports are an edge from the package to its modules, not a cycle.
    return {name: imports_of(path, modules) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_sees_function_level_imports(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    (tmp_path / "m.py").write_text("def f():\n    from experiments.training.job import run_job\n")
    modules = {"experiments.training.job", "experiments.training"}
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path.parent
    try:
        assert imports_of(tmp_path / "m.py", modules) == {"experiments.training.job"}
    finally:
        PACKAGE = saved


def test_the_job_never_imports_the_rank_launcher_and_the_worker_not_the_cli():
    graph = import_graph()

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    assert "experiments.training.ranks" not in reachable("experiments.training.job")
    assert not {"experiments.cli", "experiments.cli.train", "experiments.training.ranks"} & reachable(
        "experiments.training.rank_worker"
    )


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_350_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by concern"


def test_the_package_tree_shows_the_rooms():
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert {"cli", "config", "training", "sweeps", "records", "models", "data", "comparison", "probes"} <= rooms
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose <= {"__init__.py", "__main__.py", "api.py", "summary.py"}, loose


# Rooms a room may not import (arrows point one way: cli -> config -> training -> records; sweeps wrap
# jobs from the launcher side; the comparison reads records only, never trains).
FORBIDDEN = {
    "config": {"cli", "training", "sweeps", "records", "comparison", "data", "probes", "api"},
    "records": {"cli", "training", "sweeps", "comparison", "probes", "api"},
    "training": {"cli", "sweeps", "comparison", "api"},
    "comparison": {"cli", "training", "sweeps", "data", "models", "probes"},
    "models": {"cli", "config", "training", "sweeps", "records", "comparison", "data", "probes", "api"},
    "data": {"cli", "training", "sweeps", "records", "comparison", "models", "probes", "api"},
    # Probes measure a trained network that the recipe hands them (training -> probes), never a job or a sweep.
    "probes": {"cli", "training", "sweeps", "comparison", "api"},
}


def test_imports_follow_the_arrows_between_rooms():
    def room(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else ""

    wrong = [
        f"{source} imports {target}"
        for source, targets in import_graph().items()
        for target in targets
        if room(target) in FORBIDDEN.get(room(source), set())
    ]
    assert not wrong, "\n".join(wrong)


# ---- the record's file name lives in one place -----------------------------------------------------

REPO = PACKAGE.parents[1]
RECORD_MODULE = PACKAGE / "records" / "run_record.py"
# A string constant that is the record's file name, or a path or glob ending in it (".../results.json").
RECORD_FILE_NAME = re.compile(r"(^|[/*\\])results\.json$")
# Tests that assert on the record file itself, not on the record (none today; keep this tiny).
RECORD_FILE_ALLOWED: set[str] = set()


def docstring_nodes(tree: ast.AST) -> set[int]:
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def record_file_names(source: str) -> list[int]:
    """Lines where a string constant (an f-string's last part included) names the record file; not docstrings."""
    tree = ast.parse(source)
    docstrings = docstring_nodes(tree)
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and RECORD_FILE_NAME.search(node.value.strip())
    )


def test_the_record_file_name_finder_sees_paths_globs_and_f_strings_but_not_prose():
    source = '''"""Reads results.json."""
def f(run_dir, sweep):
    """Each results.json of the sweep."""
    a = run_dir / "results.json"  # a comment on results.json
    b = sweep.glob("*/results.json")
    c = f"{run_dir}/results.json"
    d = "results.json says interrupted; resume it"
    return os.path.join(run_dir, 'results.json')
'''
    assert record_file_names(source) == [4, 5, 6, 8]


def record_file_sources() -> list[Path]:
    return sorted(p for top in ("src", "tests", "benchmarks") for p in (REPO / top).rglob("*.py"))


def test_only_run_record_names_the_record_file():
    """``results.json`` is read and written through RunRecord / RecordWriter; its name is in run_record.py."""
    found = []
    for path in record_file_sources():
        where = path.relative_to(REPO).as_posix()
        if path == RECORD_MODULE or where in RECORD_FILE_ALLOWED:
            continue
        found += [f"{where}:{line}" for line in record_file_names(path.read_text())]
    assert not found, "use RunRecord.read / .file / .exists / .files_of_sweep, RecordWriter:\n" + "\n".join(
        found
    )


def test_the_exceptions_to_the_record_file_rule_still_name_it():
    """An entry that no longer names the record file is dropped from the lists above."""
    for where in RECORD_FILE_ALLOWED:
        assert record_file_names((REPO / where).read_text()), f"{where} no longer needs its exception"


# ---- one file name, one meaning ------------------------------------------------------------------

# Names that mean the same in every room: the package files, and each room's exception types.
SHARED_NAMES = {"__init__.py", "__main__.py", "errors.py"}


def test_no_two_rooms_have_a_module_of_the_same_name():
    rooms: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*/**/*.py")):
        if path.name not in SHARED_NAMES:
            rooms.setdefault(path.name, []).append(path.relative_to(PACKAGE).parent.as_posix())
    twice = {name: found for name, found in rooms.items() if len(found) > 1}
    assert not twice, f"the same file name in different rooms (name one for what it does there): {twice}"
