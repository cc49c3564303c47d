"""Which of this package's modules a stage script can run: its imports, found transitively."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    """The file of module ``name`` (a package's ``__init__.py``), or None if it is no module."""
    path = SRC / name.replace(".", "/")
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def library_imports(path: Path) -> set[str]:
    """The mnist_pipeline modules a file imports anywhere, at its top or inside functions."""
    tree = ast.parse(path.read_text())
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:  # for type checkers only: never runs
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnist_pipeline"):
            # `from package import module` imports a module too
            candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {name for name in candidates if module_file(name)}
    return found


def imported_library_modules(stage_script: str) -> set[str]:
    """Every mnist_pipeline module the script can run, transitively: what importing its
    imports loads, and what any of those imports later, inside a function."""
    wanted, seen = library_imports(ROOT / stage_script), set()
    while wanted - seen:
        new = wanted - seen
        code = ("import sys, " + ", ".join(sorted(new)) + "; print(' '.join(m for m in "
                "sys.modules if m.startswith('mnist_pipeline')))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout
        seen |= new
        loaded = set(out.split())
        wanted |= loaded
        for module in loaded:
            wanted |= library_imports(module_file(module))
    return seen
