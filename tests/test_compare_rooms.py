"""The comparison is a house with rooms (issue #25): ``sources/`` -> ``analysis/`` -> ``writers/``, typed
results between them, RunRecord its only input, and ``experiments.compare`` a plain function.

Read from the source (the AST of ``src/experiments/comparison``), so a wrong import anywhere in a module,
inside a function too, fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import experiments
from experiments.comparison.analysis.effects import factorial_effects
from experiments.comparison.report_model import Report

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "experiments"
COMPARISON = PACKAGE / "comparison"
ROOMS = ("sources", "analysis", "writers")
#: What each room may not import (arrows point one way: sources -> analysis -> writers).
FORBIDDEN = {"sources": {"analysis", "writers"}, "analysis": {"writers"}, "writers": set()}
#: The wiring above the rooms, which no room imports.
ABOVE = {"pipeline", "command_line"}


def modules(room: str) -> list[Path]:
    return sorted((COMPARISON / room).glob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}: relative import"
            found.add(node.module or "")
    return found


def target_room(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["experiments", "comparison"] and len(parts) > 2 else None


def test_every_room_has_modules():
    for room in ROOMS:
        assert (COMPARISON / room / "__init__.py").is_file(), room
        assert len(modules(room)) > 2, room


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_imports_point_one_way_between_rooms(room):
    wrong = [
        f"{path.relative_to(COMPARISON)} imports {module}"
        for path in modules(room)
        for module in imported(path)
        if target_room(module) in FORBIDDEN[room] | ABOVE
    ]
    assert not wrong, "\n".join(wrong)


def test_the_rooms_import_no_report_model_below_the_writers():
    """The Report is what the analysis hands the writers: the sources and the analysis never see it."""
    wrong = [
        f"{path.relative_to(COMPARISON)}"
        for room in ("sources", "analysis")
        for path in modules(room)
        if "experiments.comparison.report_model" in imported(path)
    ]
    assert not wrong


def _untyped(annotation: ast.expr | None) -> bool:
    """``dict[str, Any]`` (or ``Dict[str, Any]``) anywhere in an annotation."""
    if annotation is None:
        return False
    text = ast.unparse(annotation).replace(" ", "")
    return "dict[str,any]" in text.lower()


@pytest.mark.parametrize("room", ["analysis", "writers"])
def test_no_public_function_takes_or_returns_an_untyped_dict(room):
    """Between rooms results are dataclasses: no public function of the analysis or the writers takes or
    returns ``dict[str, Any]`` (a dataclass's ``to_json`` is the JSON itself and may)."""
    wrong = []
    for path in modules(room):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module-level functions: what other rooms call
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name.startswith("_"):
                continue
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if _untyped(node.returns) or any(_untyped(a.annotation) for a in arguments):
                wrong.append(f"{path.relative_to(COMPARISON)}: {node.name}")
    assert not wrong, wrong


def _resolved(annotation: object) -> list[type]:
    """The classes an annotation names (``X | None`` -> [X]; ``list[X]`` -> [X])."""
    args = typing.get_args(annotation)
    if not args:
        return [annotation] if isinstance(annotation, type) else []
    if typing.get_origin(annotation) is dict:
        return _resolved(args[1])
    return [t for a in args if a is not type(None) for t in _resolved(a)]


def test_the_report_holds_typed_results():
    hints = typing.get_type_hints(Report)
    for name in ("effects", "search", "settling", "groups", "runs"):
        classes = _resolved(hints[name])
        assert classes and all(dataclasses.is_dataclass(c) for c in classes), (name, hints[name])
    assert all("Any" not in str(hint) for hint in hints.values()), hints


def test_the_effects_entry_point_returns_a_dataclass():
    (returned,) = _resolved(typing.get_type_hints(factorial_effects)["return"])
    assert returned.__name__ == "Effects" and dataclasses.is_dataclass(returned)
    for field in dataclasses.fields(returned):
        hint = typing.get_type_hints(returned)[field.name]
        assert "Any" not in str(hint), (field.name, hint)


def test_run_record_is_the_only_reader_of_results_json():
    """No module of the comparison reads a results.json itself, nor keeps a Run class of its own."""
    for path in COMPARISON.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "RESULTS_FILE" not in names and "SCHEMA" not in names, path
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "Run"], path
        calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
        # csv_json.py reads back its own summary.json, study_plan.py the fair sweeper's fair_study.json
        if path not in (COMPARISON / "writers" / "csv_json.py", COMPARISON / "sources" / "study_plan.py"):
            assert "json.loads" not in calls and "json.load" not in calls, path


def test_no_module_shares_a_name_with_another_elsewhere_in_the_package():
    """``plots.py`` (records) and ``report.py`` (training) mean other things: the comparison's differ."""
    own = {p.name for p in COMPARISON.rglob("*.py")} - {"__init__.py", "__main__.py"}
    elsewhere = {p.name for p in PACKAGE.rglob("*.py") if COMPARISON not in p.parents}
    assert not own & elsewhere, own & elsewhere
    assert not (PACKAGE / "compare").exists()


def test_experiments_compare_is_a_plain_function():
    assert callable(experiments.compare) and type(experiments.compare).__name__ == "function"
    assert type(sys.modules["experiments"]) is type(sys)  # no module swaps its class
    code = (
        "import sys, experiments; experiments.compare; "
        "print(sorted(m for m in ('torch', 'pandas', 'experiments.comparison') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_m_experiments_comparison_is_the_compare_command(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "experiments.comparison", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0 and out.stdout.startswith("usage: experiments compare")
