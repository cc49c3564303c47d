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


def test_every_model_has_its_stages_charts_and_artifact():
    # The train stages come from params.yaml's models (evaluate scores them all); the top-level
    # charts and the artifacts name them one by one (DVC expands no foreach there).
    assert DVC["stages"]["train"]["foreach"] == "${models}"
    assert "models" in DVC["stages"]["evaluate"]["params"]
    assert len(DVC["plots"]) == 2
    for chart in DVC["plots"]:
        ((title, spec),) = chart.items()
        assert {path.split("/")[1] for path in spec["y"]} == set(PARAMS["models"]), title
    assert DVC["artifacts"].keys() == PARAMS["models"].keys()
    for name, artifact in DVC["artifacts"].items():
        assert (artifact["type"], artifact["path"]) == ("model", f"models/{name}.safetensors")


def outputs(stage: dict) -> list[str]:
    """What a stage declares it writes: its outs, metrics and plots."""
    return [next(iter(out)) if isinstance(out, dict) else out
            for kind in ("outs", "metrics", "plots") for out in stage.get(kind, [])]


@pytest.mark.parametrize("stage", ["fetch", "convert", "train", "evaluate"])
def test_every_path_a_stage_is_given_is_a_dependency_or_an_output_of_its_own(stage):
    # So `dvc status` tells the truth: a stage writes no file another stage declares.
    # A folder given whole (the live view's) is declared by what it holds.
    definition = DVC["stages"][stage].get("do", DVC["stages"][stage])
    command = definition["cmd"].split()
    declared = outputs(definition)
    # Paths: a folder or file in the project (the model's name is not one).
    paths = [arg for arg in command[2:] if "/" in arg or arg in definition["deps"] + declared]
    produced = [path for path in paths if path not in definition["deps"]]
    assert paths and produced, stage
    for path in produced:
        assert any(out == path or out.startswith(path + "/") for out in declared), path
    for out in declared:
        assert any(out == path or out.startswith(path + "/") for path in produced), out


def test_each_file_is_the_output_of_one_stage_only():
    every = [path for stage in DVC["stages"].values()
             for path in outputs(stage.get("do", stage))]
    assert len(every) == len(set(every))


def test_every_custom_template_is_one_dvc_yaml_names():
    """A template in .dvc/plots that no plot names is dead weight (and one named but missing
    makes `dvc plots show` fail)."""
    named = {config["template"]
             for plot in DVC["plots"] for config in plot.values() if "template" in config}
    for stage in DVC["stages"]:
        for plot in definition(stage).get("plots", []):
            named |= {config["template"] for config in plot.values()
                      if isinstance(config, dict) and "template" in config}
    custom = {path.stem for path in (ROOT / ".dvc" / "plots").glob("*.json")}
    assert custom == named - {"linear", "simple", "scatter", "smooth", "confusion",
                              "confusion_normalized", "bar_horizontal", "bar_horizontal_sorted"}
