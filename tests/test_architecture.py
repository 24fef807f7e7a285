"""The package's layout rules: one-way imports (import-linter contracts in pyproject.toml), no
private name used outside its module, own-package imports at the top of modules."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gis"
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _lint(cwd: Path, *, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(LINT, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_pass():
    res = _lint(ROOT, pythonpath=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: " in res.stdout and " broken" in res.stdout
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(("module", "inverted"), [
    ("gis/model/costs.py", "import gis.pipeline  # inverted: model -> pipeline"),
    ("gis/inputs/readers.py", "import gis.analyses.network  # inverted: inputs -> analyses"),
    ("gis/analyses/plans.py", "import gis.outputs.files  # an analysis writing files"),
    ("gis/analyses/access.py", "import gis.analyses.siting  # analyses kept independent"),
])
def test_an_inverted_import_breaks_a_contract(tmp_path, module, inverted):
    """A copy of the package with one upward import added fails the contracts."""
    shutil.copytree(PACKAGE, tmp_path / "gis",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{inverted}\n", encoding="utf-8")
    res = _lint(tmp_path, pythonpath=tmp_path)
    assert res.returncode != 0, res.stdout
    assert "BROKEN" in res.stdout


def _own_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and (node.module == "gis" or node.module.startswith("gis.")):
            yield node
        elif isinstance(node, ast.Import) and any(a.name == "gis" or a.name.startswith("gis.")
                                                  for a in node.names):
            yield node


def test_no_private_name_used_outside_its_module():
    problems = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = set()
        for node in _own_imports(tree):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        problems.append(f"{path.relative_to(ROOT)}:{node.lineno} imports "
                                        f"{node.module}.{a.name}")
                    aliases.add(a.asname or a.name)
            else:
                aliases.update((a.asname or a.name).split(".")[0] for a in node.names)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} uses "
                                f"{node.value.id}.{node.attr}")
    assert not problems, "\n".join(problems)


def test_own_package_imports_at_module_top():
    problems = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for n in tree.body:  # `if TYPE_CHECKING:` imports are for type hints only
            if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING":
                top.update(id(m) for m in n.body)
        for node in _own_imports(tree):
            if id(node) not in top:
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not problems, "own-package imports inside functions or blocks:\n" + "\n".join(problems)


def test_every_subpackage_says_what_it_may_import():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "may import" in doc.lower(), f"{init.relative_to(ROOT)}: docstring {doc!r}"
