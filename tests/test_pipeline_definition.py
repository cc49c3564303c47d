"""dvc.yaml is complete: every library module a stage runs is one of its dependencies.

Otherwise a change to that module would leave the stage's outputs stale without DVC noticing.
"""

import pytest
import yaml

from conftest import ROOT
from stage_imports import imported_library_modules

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


@pytest.mark.parametrize("stage", ["fetch", "convert", "train", "evaluate"])
def test_stage_depends_on_every_module_it_imports(stage):
    definition = DVC["stages"][stage]
    script = f"stages/{stage}.py"
    deps = set(definition["deps"])
    assert script in deps
    runs = {f"src/{name.replace('.', '/')}.py" for name in imported_library_modules(script)}
    missing = runs - deps
    assert not missing, f"{stage} runs {sorted(missing)} but does not depend on them"
