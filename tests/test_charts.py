"""The charts `dvc plots show` draws from dvc.yaml and .dvc/plots, rendered as a browser would
(vega-lite compiled and drawn to SVG by vl-convert): whole, distinct epochs on every epoch axis,
a line per model, no chart repeating another, a confusion matrix per model with each digit's
accuracy on its diagonal. Each custom template stays only while DVC's built-in one fails its
test (shown here too). The files are written by hand; real runs draw them in the e2e tests."""

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
CURVES = ("train_loss", "valid_loss", "valid_accuracy")
HISTORY = "model,epoch,train_loss,valid_loss,valid_accuracy\n"
EPOCH_CHARTS = [title for chart in DVC["plots"] for title in chart] + ["plots/history.csv"]


@pytest.fixture(scope="module")
def charts_of(tmp_path_factory):
    """``charts_of(epochs, templates)``: every vega chart `dvc plots show --json` makes of
    DVCLive curves and histories of that many epochs (and small confusion counts), by plot id;
    ``templates`` replaces the templates dvc.yaml names (e.g. with DVC's built-in ones)."""
    repo = tmp_path_factory.mktemp("charts")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=repo, check=True)
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")

    def charts(epochs: int, templates: dict[str, str] | None = None) -> dict[str, dict]:
        text = (ROOT / "dvc.yaml").read_text()
        for ours, other in (templates or {}).items():
            text = text.replace(f"template: {ours}", f"template: {other}")
        (repo / "dvc.yaml").write_text(text)
        history, confusion = [HISTORY], ["model,actual,predicted,count\n"]
        for name in MODEL_NAMES:
            curves = repo / "live" / name / "plots" / "metrics"
            curves.mkdir(parents=True, exist_ok=True)
            for column, start in zip(CURVES, (2.0, 2.2, 0.5), strict=True):
                rows = "".join(f"{e}\t{start / e}\n" for e in range(1, epochs + 1))
                (curves / f"{column}.tsv").write_text(f"step\t{column}\n{rows}")
            history += [f"{name},{e},{2 / e},{2.2 / e},{1 - 0.5 / e}\n"
                        for e in range(1, epochs + 1)]
            # Digit 0 right 3 times in 4, digit 1 always.
            confusion += [f"{name},0,0,3\n", f"{name},0,1,1\n", f"{name},1,1,2\n"]
        (repo / "plots").mkdir(exist_ok=True)
        (repo / "plots" / "history.csv").write_text("".join(history))
        (repo / "plots" / "confusion.csv").write_text("".join(confusion))
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


def epoch_charts(charts: dict[str, dict]) -> dict[str, dict]:
    return {plot_id: chart for plot_id, chart in charts.items() if "confusion" not in plot_id}


@pytest.mark.parametrize("epochs", [1, 2, 6])
def test_every_epoch_axis_shows_each_whole_epoch_once(charts_of, epochs):
    charts = epoch_charts(charts_of(epochs))
    assert sorted(charts) == sorted(EPOCH_CHARTS)
    for plot_id, chart in charts.items():
        # Not "1 2 2": a tick at 1.5 labelled as a whole number.
        assert axis_labels(svg(chart), "X") == [str(e) for e in range(1, epochs + 1)], plot_id


def legend(chart: dict) -> set[str]:
    drawn = svg(chart).split('aria-label="Symbol legend', 1)[1].split("</g></g></g>", 1)[0]
    return set(re.findall(r"<text[^>]*>([^<]*)</text>", drawn))


def drawn(chart_id: str) -> set[tuple[str, str]]:
    """What an epoch chart draws, from dvc.yaml: (model, column) pairs."""
    for chart in DVC["plots"]:
        if chart_id in chart:
            return {(path.split("/")[1], column) for path, column in chart[chart_id]["y"].items()}
    (evaluate_plot,) = [plot[chart_id] for plot in DVC["stages"]["evaluate"]["plots"]
                        if chart_id in plot]
    return {(name, evaluate_plot["y"]) for name in MODEL_NAMES}


def test_each_epoch_chart_draws_a_line_per_model_and_no_chart_repeats_another(charts_of):
    charts = epoch_charts(charts_of(2))
    for chart_id in EPOCH_CHARTS:
        assert set(MODEL_NAMES) <= legend(charts[chart_id]), chart_id
    assert not any(param.get("name") == "smooth"
                   for chart in charts.values() for param in chart.get("params", []))
    lines = {chart_id: drawn(chart_id) for chart_id in charts}
    for chart_id, mine in lines.items():
        for other, theirs in lines.items():
            assert other == chart_id or not mine <= theirs, f"{other} draws all of {chart_id}"


def test_the_confusion_matrices_name_their_models_and_write_each_digits_accuracy(charts_of):
    drawn = svg(charts_of(2)["plots/confusion.csv"])
    headers = re.findall(r"<text[^>]*>([a-z]+)</text>", drawn)
    assert set(MODEL_NAMES) <= set(headers)  # a matrix per model, named
    cells = re.findall(r"<text[^>]*>([0-9.]+)</text>", drawn)
    assert {"0.75", "0.25", "1.00"} <= set(cells)


def test_dvcs_built_in_templates_fail_what_the_projects_two_do(charts_of):
    built_in = charts_of(2, {"epochs": "linear", "confusion_share": "confusion_normalized"})
    for chart in epoch_charts(built_in).values():
        assert axis_labels(svg(chart), "X") != ["1", "2"]
    drawn = svg(built_in["plots/confusion.csv"])  # it counts rows, and writes no share
    assert "0.75" not in re.findall(r"<text[^>]*>([0-9.]+)</text>", drawn)
