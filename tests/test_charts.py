"""The charts `dvc plots show` draws from dvc.yaml and .dvc/plots, rendered as a browser would
(vega-lite compiled and drawn to SVG by vl-convert): whole, distinct epochs on every epoch axis,
a line per model in the live charts, each model's own charts named for it, none repeating
another, per-class accuracy on the confusion matrix's diagonal. Each custom template stays only
while DVC's built-in one fails its test (shown here too). The files are written by hand; real
runs draw them in the e2e tests."""

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
HISTORY = "epoch,train_loss,valid_loss,valid_accuracy\n"
LIVE_CHARTS = [title for chart in DVC["plots"] for title in chart]


@pytest.fixture(scope="module")
def charts_of(tmp_path_factory):
    """``charts_of(epochs, templates)``: every vega chart `dvc plots show --json` makes of
    DVCLive curves of that many epochs (and a small test split), by plot id; ``templates``
    replaces the templates dvc.yaml names (e.g. with DVC's built-in ones)."""
    repo = tmp_path_factory.mktemp("charts")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=repo, check=True)
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")

    def charts(epochs: int, templates: dict[str, str] | None = None) -> dict[str, dict]:
        text = (ROOT / "dvc.yaml").read_text()
        for ours, other in (templates or {}).items():
            text = text.replace(f"template: {ours}", f"template: {other}")
        (repo / "dvc.yaml").write_text(text)
        for name in MODEL_NAMES:
            curves = repo / "live" / name / "plots" / "metrics"
            curves.mkdir(parents=True, exist_ok=True)
            for column, start in zip(CURVES, (2.0, 2.2, 0.5), strict=True):
                rows = "".join(f"{e}\t{start / e}\n" for e in range(1, epochs + 1))
                (curves / f"{column}.tsv").write_text(f"step\t{column}\n{rows}")
            (repo / "plots" / name).mkdir(parents=True, exist_ok=True)
            (repo / "plots" / name / "history.csv").write_text(HISTORY + "".join(
                f"{e},{2 / e},{2.2 / e},{1 - 0.5 / e}\n" for e in range(1, epochs + 1)))
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


def epoch_charts(charts: dict[str, dict]) -> dict[str, dict]:
    return {plot_id: chart for plot_id, chart in charts.items() if "confusion" not in plot_id}


@pytest.mark.parametrize("epochs", [1, 2, 6])
def test_every_epoch_axis_shows_each_whole_epoch_once(charts_of, epochs):
    charts = epoch_charts(charts_of(epochs))
    # One live chart per curve, every model in it; each model's history as committed.
    assert len(charts) == len(CURVES) + len(MODEL_NAMES)
    for plot_id, chart in charts.items():
        # Not "1 2 2": a tick at 1.5 labelled as a whole number.
        assert axis_labels(svg(chart), "X") == [str(e) for e in range(1, epochs + 1)], plot_id


def legend(chart: dict) -> set[str]:
    drawn = svg(chart).split('aria-label="Symbol legend', 1)[1].split("</g></g></g>", 1)[0]
    return set(re.findall(r"<text[^>]*>([^<]*)</text>", drawn))


def drawn(chart_id: str) -> set[tuple[str, str]]:
    """What a chart draws: (model, column) pairs, from dvc.yaml and the templates."""
    for chart in DVC["plots"]:
        if chart_id in chart:
            return {(path.split("/")[1], column) for path, column in chart[chart_id]["y"].items()}
    model = chart_id.split("/")[1]  # plots/<model>/<file>: the losses template folds two
    return {(model, "train_loss"), (model, "valid_loss")}


def test_live_charts_draw_a_line_per_model_and_no_chart_repeats_another(charts_of):
    charts = epoch_charts(charts_of(2))
    for title in LIVE_CHARTS:
        assert set(MODEL_NAMES) <= legend(charts[title]), title
    for name in MODEL_NAMES:
        assert charts[f"plots/{name}/history.csv"]["title"]["text"].startswith(f"{name}: ")
    assert not any(param.get("name") == "smooth"
                   for chart in charts.values() for param in chart.get("params", []))
    lines = {chart_id: drawn(chart_id) for chart_id in charts}
    for chart_id, mine in lines.items():
        for other, theirs in lines.items():
            assert other == chart_id or not mine <= theirs, f"{other} draws all of {chart_id}"


def test_the_confusion_matrix_names_its_model_and_writes_each_digits_accuracy(charts_of):
    charts = charts_of(2)
    for name in MODEL_NAMES:
        assert charts[f"plots/{name}/confusion.csv"]["title"]["text"].startswith(f"{name}: ")
    drawn = svg(charts["plots/cnn/confusion.csv"])
    cells = re.findall(r"<text[^>]*>([0-9.]+)</text>", drawn.split("role-axis")[0] + drawn)
    assert {"0.75", "0.25", "1.00"} <= set(cells)


def test_dvcs_built_in_templates_fail_what_the_projects_two_do(charts_of):
    built_in = charts_of(2, {"epochs": "linear", "losses": "linear",
                             "confusion_share": "confusion_normalized"})
    for chart in epoch_charts(built_in).values():
        assert axis_labels(svg(chart), "X") != ["1", "2"]
    drawn = svg(built_in["plots/cnn/confusion.csv"])
    assert "0.75" not in re.findall(r"<text[^>]*>([0-9.]+)</text>", drawn)
