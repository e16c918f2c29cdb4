"""The house rules of misalign_eval/__init__.py, checked: dependencies point down the layers,
stats imports nothing of ours, the library never imports the CLI, and the decision commands
load without lm-eval."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "misalign_eval"

# Layer of each top-level part: a module may import its own layer or lower ones.
LAYERS = {
    "cli": 7, "decisions": 6, "runs": 5, "harness": 4, "sim": 3, "probes": 3,
    "judging": 2, "scoring": 2, "stats": 1, "errors": 0, "resources": 0, "__init__": 0,
}
MAX_LINES = 400


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {m for m in found if m == "misalign_eval" or m.startswith("misalign_eval.")}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


def test_every_part_has_a_layer():
    parts = {_part(name) for name, _ in _modules()} - {"__main__"}
    assert parts <= set(LAYERS), parts - set(LAYERS)


def test_dependencies_point_down():
    upward = []
    for name, path in _modules():
        if name.endswith("__main__"):
            continue
        own = LAYERS[_part(name)]
        for target in _imports(path):
            if target == "misalign_eval":  # __version__
                continue
            if LAYERS[_part(target)] > own:
                upward.append(f"{name} imports {target}")
    assert not upward, upward


def test_stats_imports_nothing_of_ours_outside_stats():
    for name, path in _modules():
        if _part(name) == "stats":
            assert all(_part(t) == "stats" for t in _imports(path)), name


def test_no_module_above_the_size_limit():
    big = {name: n for name, path in _modules()
           if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES}
    assert not big, big


def test_decisions_and_runs_load_without_lm_eval():
    code = ("import sys, misalign_eval.decisions.report, misalign_eval.decisions.gate, "
            "misalign_eval.runs.reader, misalign_eval.runs.pairing, misalign_eval.stats; "
            "print('lm_eval' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
