"""dvc.yaml is complete: every library module a stage runs lies in one of its dependencies.

Otherwise a change to that module would leave the stage's outputs stale without DVC noticing.
"""

import ast

import pytest
import yaml

from conftest import ROOT
from stage_imports import imported_library_modules, module_file

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def definition(stage: str) -> dict:
    return DVC["stages"][stage].get("do", DVC["stages"][stage])


@pytest.mark.parametrize("stage", ["fetch", "convert", "train", "evaluate"])
def test_stage_depends_on_every_module_it_runs(stage):
    deps = definition(stage)["deps"]
    script = f"stages/{stage}.py"
    assert script in deps
    missing = []
    for module in imported_library_modules(script):
        path = module_file(module)
        if path.name == "__init__.py":  # a package's docstring: nothing runs (tested below)
            continue
        relative = path.relative_to(ROOT).as_posix()
        if not any(relative == dep or relative.startswith(dep + "/") for dep in deps):
            missing.append(relative)
    assert not missing, f"{stage} runs {sorted(missing)} but does not depend on them"


def test_every_package_init_holds_only_its_docstring():
    for path in (ROOT / "src" / "mnist_pipeline").rglob("__init__.py"):
        tree = ast.parse(path.read_text())
        assert len(tree.body) == 1 and isinstance(tree.body[0].value, ast.Constant), path


def test_every_model_has_its_stages_and_its_plots():
    # The stages come from params.yaml's models; the top-level plots name them one by one.
    assert DVC["stages"]["train"]["foreach"] == DVC["stages"]["evaluate"]["foreach"] \
        == "${models}"
    for plot in DVC["plots"]:
        (title, spec), = plot.items()
        files = {path.split("/")[1] for path in spec["y"]}
        assert files == set(PARAMS["models"]) or files == {title.split(":")[0]}, title
    per_model = {title.split(":")[0] for plot in DVC["plots"] for title in plot if ":" in title}
    assert per_model == set(PARAMS["models"])
