"""The charts `dvc plots show` draws from dvc.yaml and .dvc/plots, rendered as a browser would
(vega-lite compiled and drawn to SVG by vl-convert): whole, distinct epochs on every epoch axis,
each chart named for its model, none repeating another, per-class accuracy on the confusion
matrix's diagonal. The files are written by hand here; real runs draw them in the e2e tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import MODEL_NAMES, ROOT

vl_convert = pytest.importorskip("vl_convert")
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
HISTORY = "epoch,train_loss,valid_loss,valid_accuracy\n"


@pytest.fixture(scope="module")
def charts_of(tmp_path_factory):
    """``charts_of(epochs)``: every vega chart `dvc plots show --json` makes of histories of
    that many epochs (and a small test split), by plot id."""
    repo = tmp_path_factory.mktemp("charts")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=repo, check=True)
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")

    def charts(epochs: int) -> dict[str, dict]:
        rows = "".join(f"{e},{2 / e},{2.2 / e},{1 - 0.5 / e}\n" for e in range(1, epochs + 1))
        for name in MODEL_NAMES:
            for path in (repo / "live" / f"{name}.csv", repo / "plots" / name / "train.csv"):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(HISTORY + rows)
            # Digit 0 right 3 times in 4, digit 1 always.
            (repo / "plots" / name / "confusion.csv").write_text(
                "actual,predicted\n0,0\n0,0\n0,0\n0,1\n1,1\n1,1\n")
        shown = json.loads(subprocess.run(["dvc", "plots", "show", "--json"], cwd=repo,
                                          check=True, capture_output=True, text=True).stdout)
        return {plot_id: render["content"] for plot_id, renders in shown["data"].items()
                for render in renders if render["type"] == "vega"}

    return charts


def svg(chart: dict) -> str:
    return vl_convert.vegalite_to_svg(chart)


def axis_labels(drawn: str, axis: str) -> list[str]:
    """The tick labels of the chart's ``axis`` ("X" or "Y"), as drawn."""
    part = drawn.split(f'aria-label="{axis}-axis', 1)[1]
    part = part.split("role-axis-label", 1)[1].split("role-axis-title", 1)[0]
    return re.findall(r"<text[^>]*>([^<]*)</text>", part)


@pytest.mark.parametrize("epochs", [1, 2, 6])
def test_every_epoch_axis_shows_each_whole_epoch_once(charts_of, epochs):
    charts = {plot_id: chart for plot_id, chart in charts_of(epochs).items()
              if "confusion" not in plot_id}
    assert len(charts) == 2 * len(MODEL_NAMES) + 1  # live losses, accuracy; one overlay
    for plot_id, chart in charts.items():
        # Not "1 2 2": a tick at 1.5 labelled as a whole number.
        assert axis_labels(svg(chart), "X") == [str(e) for e in range(1, epochs + 1)], plot_id


def test_every_chart_names_its_model_and_overlays_colour_each_model(charts_of):
    charts = charts_of(2)
    for name in MODEL_NAMES:
        own = [plot_id for plot_id in charts if f"/{name}" in plot_id]
        assert len(own) == 3, (name, sorted(charts))  # losses, accuracy, confusion
        for plot_id in own:
            assert charts[plot_id]["title"]["text"].startswith(f"{name}: "), plot_id
    overlay = svg(charts["Validation loss per epoch, all models"])
    legend = overlay.split('aria-label="Symbol legend', 1)[1].split("</g></g></g>", 1)[0]
    assert set(MODEL_NAMES) <= set(re.findall(r"<text[^>]*>([^<]*)</text>", legend))
    assert not any(param.get("name") == "smooth"
                   for chart in charts.values() for param in chart.get("params", []))


def model_of(path: str) -> str:
    """The model a history file is of: live/cnn.csv and plots/cnn/train.csv hold the same."""
    return re.sub(r"^live/(\w+)\.csv$|^plots/(\w+)/train\.csv$", r"\1\2", path)


def series() -> dict[str, set[tuple[str, str]]]:
    """What each chart of dvc.yaml draws, each model's stages' charts apart: (model, column)."""
    templates = {path.stem: path.read_text() for path in (ROOT / ".dvc/plots").glob("*.json")}
    drawn = {}
    for stage in DVC["stages"].values():
        for plot in stage.get("do", stage).get("plots", []):
            ((path, props),) = plot.items()
            if not path.endswith(".csv") or "confusion" in path:
                continue
            folded = re.search(r'"fold": \[([^]]*)\]', templates.get(props["template"], ""))
            columns = re.findall(r'"(\w+)"', folded.group(1)) if folded else [props["y"]]
            for name in MODEL_NAMES:
                each = path.replace("${key}", name)
                drawn[each] = {(model_of(each), column) for column in columns}
    for plot in DVC["plots"]:
        ((title, props),) = plot.items()
        drawn[title] = {(model_of(path), column) for path, column in props["y"].items()}
    return drawn


def test_no_chart_repeats_what_another_draws():
    drawn = series()
    assert len(drawn) == 2 * len(MODEL_NAMES) + 1
    for name, lines in drawn.items():
        for other, other_lines in drawn.items():
            assert other == name or not lines <= other_lines, f"{other} draws all of {name}"


def test_the_confusion_matrix_writes_each_digits_accuracy_on_its_diagonal(charts_of):
    drawn = svg(charts_of(2)["plots/cnn/confusion.csv"])
    cells = re.findall(r"<text[^>]*>([0-9.]+)</text>", drawn.split("role-axis")[0] + drawn)
    assert {"0.75", "0.25", "1.00"} <= set(cells)
