"""Which of this package's modules a stage script can run: its imports, found transitively."""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import ROOT


def library_imports(path) -> set[str]:
    """The mnist_pipeline modules a file imports anywhere, at its top or inside functions."""
    tree = ast.parse(path.read_text())
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:  # for type checkers only: never runs
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "mnist_pipeline":  # from mnist_pipeline import dynamo_stand_in
                found |= {f"mnist_pipeline.{alias.name}" for alias in node.names}
            elif node.module.startswith("mnist_pipeline."):
                found.add(node.module)
    return found


def imported_library_modules(stage_script: str) -> set[str]:
    """Every mnist_pipeline module the script can run, transitively: what importing its
    imports loads, and what any of those imports later, inside a function."""
    wanted, seen = library_imports(ROOT / stage_script), set()
    while wanted - seen:
        new = wanted - seen
        code = ("import sys, " + ", ".join(sorted(new)) + "; print(' '.join(m for m in "
                "sys.modules if m.startswith('mnist_pipeline.')))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout
        seen |= new
        loaded = set(out.split())
        wanted |= loaded
        for module in loaded:
            wanted |= library_imports(ROOT / "src" / (module.replace(".", "/") + ".py"))
    return seen
