"""dvc.yaml is complete: every library module a stage runs is one of its dependencies.

Otherwise a change to that module would leave the stage's outputs stale without DVC noticing.
"""

import ast
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def imported_library_modules(stage_script: str) -> set[str]:
    """Every mnist_pipeline module loaded when the script's own imports run, transitively."""
    tree = ast.parse((ROOT / stage_script).read_text())
    direct = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              and node.module and node.module.startswith("mnist_pipeline")}
    code = ("import sys, " + ", ".join(sorted(direct)) + "; print(' '.join(m for m in "
            "sys.modules if m.startswith('mnist_pipeline.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return {f"src/{name.replace('.', '/')}.py" for name in out.split()}


@pytest.mark.parametrize("stage", ["fetch", "convert", "train", "evaluate"])
def test_stage_depends_on_every_module_it_imports(stage):
    definition = DVC["stages"][stage]
    script = f"stages/{stage}.py"
    deps = set(definition["deps"])
    assert script in deps
    missing = imported_library_modules(script) - deps
    assert not missing, f"{stage} runs {sorted(missing)} but does not depend on them"
