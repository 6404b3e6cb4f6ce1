"""`cifarsweep report` end to end: files, the HTML page, the parent run's artifacts, and bad input."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.metrics import metric_range
from tests.support import files_under
from tests.support.cli import invoke
from tests.support.report_fixtures import report_store, stats_store  # noqa: F401  (fixtures)


def report(store, out: Path, *args: str):
    return invoke("report", "--tracking-uri", store["uri"], "--out", out, *args)


def artifact_root(store) -> Path:
    return Path(store["uri"].removeprefix("sqlite:///")).parent / "artifacts"


def parent_artifacts(store, sweep: str) -> Path:
    run = MlflowClient(tracking_uri=store["uri"]).get_run(store[sweep])
    return Path(run.info.artifact_uri.removeprefix("file://"))


def test_default_report_writes_every_figure_its_numbers_and_the_page(report_store, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    result = report(report_store, out, "--sweep", "grid")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "index.html")
    for name in ("heatmap_lr_weight_decay_by_grad_clip", "curves_lr", "curves_weight_decay", "curves_grad_clip"):
        assert (out / f"{name}.png").stat().st_size > 10_000 and (out / f"{name}.csv").is_file(), name
    assert (out / "curves_lr_lr.csv").is_file()  # the lr schedules beside the lr curves
    page = (out / "index.html").read_text()
    assert len(re.findall(r'<img src="[^"]+\.png"', page)) == 5  # and the variance split
    assert "Blank cells: grad_clip=None, weight_decay=5e-4, lr=1e-3 (all failed);" in page
    rows = re.findall(r'<td class="text">(trial-\d{4})</td>', page)
    assert rows[0] == "trial-0007" and rows[-2:] == ["trial-0012", "trial-0013"]  # best first; failed, pruned last
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 14 and {"params.lr", "metrics.val_acc", "state", "run_id"} <= set(trials.columns)
    assert (out / "best_run" / "confusion_matrix.png").is_file() and (out / "best_run" / "most_confused.csv").is_file()
    assert "cat" in (out / "best_run" / "index.html").read_text()
    logged = parent_artifacts(report_store, "grid") / "report"
    assert (logged / "index.html").is_file() and (logged / "heatmap_lr_weight_decay_by_grad_clip.png").is_file()


def test_heatmap_option_writes_only_that_figure_with_agg_max(report_store, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    result = report(report_store, out, "--sweep", "grid", "--heatmap", "lr", "weight_decay", "--agg", "max")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "heatmap_lr_weight_decay.html")  # a page of its own
    assert sorted(p.name for p in out.iterdir()) == [
        "heatmap_lr_weight_decay.csv",
        "heatmap_lr_weight_decay.html",
        "heatmap_lr_weight_decay.png",
        "index.html",  # only the list of pages: no full report was written here yet
        "report.json",
        "trials.csv",
    ]
    table = pd.read_csv(out / "heatmap_lr_weight_decay.csv", dtype={"lr": str, "weight_decay": str})
    best = table[(table["lr"] == "0.01") & (table["weight_decay"] == "5e-4")].iloc[0]
    assert best["mean"] == pytest.approx(74.0) and best["best_of"] == "grad_clip=0.1" and best["n"] == 2


def test_curves_against_time_and_another_metric(report_store, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    result = report(
        report_store, out, "--sweep", "grid", "--curves", "grad_clip", "--x", "time", "--metric", "train_loss"
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "curves_grad_clip_time.csv")
    assert set(table["metric"]) == {"val_acc", "val_loss", "train_loss"}
    assert "wall-clock time" in (out / "index.html").read_text()


def test_ablation_report(report_store, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    result = report(report_store, out, "--sweep", "ablation", "--ablation")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "ablation.csv")
    assert table["variant"].tolist()[:3] == ["full", "no_mixup", "no_crop"]
    assert (
        "validation accuracy and generalisation gap per variant, against the full recipe (full)"
        in (out / "index.html").read_text()
    )


def test_most_recent_sweep_is_an_optuna_search_with_its_own_figures(report_store, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    result = report(report_store, out, "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 0, result.output
    for name in (
        "best_so_far",
        "intermediate_values",
        "slices",
        "contour_lr_weight_decay",
        "parallel_coordinates",
        "importances",
    ):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.csv").is_file(), name
    assert not list(out.glob("curves_*"))  # no line per trial of a continuous parameter
    assert not list(out.glob("heatmap_*"))
    importances = pd.read_csv(out / "importances.csv")
    assert set(importances["param"]) == {"lr", "weight_decay", "optimizer"}
    assert importances["importance"].sum() == pytest.approx(1.0)
    assert "rebuilt from the MLflow runs" in (out / "index.html").read_text()
    assert not (tmp_path / "none.db").exists()


def test_importances_come_from_the_stored_study_when_there_is_one(report_store, tmp_path):  # noqa: F811
    import optuna

    from cifarsweep.tracking.query import load_sweep

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="search", storage=storage, direction="maximize")
    trials = load_sweep("search", report_store["uri"]).trials
    distributions = {
        "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
        "optimizer": optuna.distributions.CategoricalDistribution(["sgd", "adam"]),
    }
    for _, row in trials[trials["state"] == "COMPLETE"].iterrows():
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": row["params.lr"], "optimizer": row["params.optimizer"]},
                distributions=distributions,
                value=row["metrics.val_acc"],
            )
        )
    out = tmp_path / "out"
    result = report(report_store, out, "--sweep", "search", "--storage", storage)
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(out / "importances.csv")["param"]) == {"lr", "optimizer"}
    assert "the stored Optuna study" in (out / "index.html").read_text()


def test_one_run_page(report_store, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    result = report(report_store, out, "--run", report_store["best_grid_run"])
    assert result.exit_code == 0, result.output
    for name in (
        "learning_curves.png",
        "history.csv",
        "confusion_matrix.png",
        "confusion_matrix.csv",
        "most_confused.csv",
        "classification_report.txt",
        "index.html",
    ):
        assert (out / name).is_file(), name
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2, 3]
    pairs = pd.read_csv(out / "most_confused.csv")
    assert pairs.iloc[0].tolist() == ["dog", "cat", 3]
    assert "precision" in (out / "index.html").read_text()


def test_one_run_page_of_a_plain_training_run(report_store, tmp_path):  # noqa: F811
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=report_store["uri"])
    experiment = client.create_experiment("train-runs", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment, run_name="plain", tags={"cifarsweep.kind": "train"}).info.run_id
    metrics = [
        Metric(k, v * e, 1000 * e, e)
        for e in (1, 2)
        for k, v in {"train_loss": 1.0, "val_loss": 1.1, "train_acc": 0.3, "val_acc": 0.25}.items()
    ]
    client.log_batch(run, metrics=metrics)
    result = invoke("report", "--tracking-uri", report_store["uri"], "--run", run, "--out", tmp_path / "plain")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plain" / "learning_curves.png").is_file()
    assert "No confusion matrix" in (tmp_path / "plain" / "index.html").read_text()


@pytest.mark.parametrize(
    "args, named, available",
    [
        (["--sweep", "nope"], "'nope'", "sweeps: search, unfinished, ablation, grid"),
        (["--sweep", "grid", "--heatmap", "lr", "wd"], "'wd'", "swept: lr, weight_decay, grad_clip"),
        (["--sweep", "grid", "--curves", "depth"], "'depth'", "other training fields: amp"),
        (["--sweep", "grid", "--heatmap", "lr", "weight_decay", "--facet", "lr"], "--facet", "already an axis"),
        (["--sweep", "grid", "--metric", "top1"], "'top1'", "available: best_val_acc, clean_train_acc"),
        (["--sweep", "unfinished"], "no finished trials", "1 RUNNING, 1 FAIL"),
        (["--sweep", "grid", "--ablation"], "--ablation", "no variants"),
        (["--run", "0123456789abcdef"], "0123456789abcdef", "no run"),
        (["--sweep", "grid", "--heatmap", "lr", "momentum"], "momentum was not swept", "swept: lr, weight_decay"),
        (["--sweep", "grid", "--curves", "momentum"], "--curves: momentum", "swept: lr, weight_decay, grad_clip"),
        (["--sweep", "search", "--heatmap", "lr", "weight_decay"], "continuous", "contour_lr_weight_decay.png"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(report_store, tmp_path, args, named, available):  # noqa: F811
    before = files_under(artifact_root(report_store))
    result = report(report_store, tmp_path / "out", *args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert named in result.stderr and available in result.stderr
    assert not (tmp_path / "out").exists()
    assert files_under(artifact_root(report_store)) == before


def test_no_store_yet_is_a_user_error_that_creates_nothing(empty_workdir):
    result = invoke("report")
    assert (
        result.exit_code == 2
        and "no MLflow store at sqlite:///" in result.stderr
        and "mlruns/mlflow.db" in result.stderr
    )
    assert files_under(empty_workdir) == {}


# -- issue 13: warnings, values in range, partial reports, the page --------------------------------------
VALUE_COLUMNS = ("mean", "lower", "upper", "value", "best", "objective", "last value")


def _out_of_range(csv: Path, objective: str = "val_acc") -> list[str]:
    """Every accuracy or loss value of the CSV outside its metric's range (as 'file:column=value')."""
    table = pd.read_csv(csv)
    bad = []
    for column in table.columns:
        names = column.removeprefix("metrics.")
        if column.startswith("metrics."):  # trials.csv: final metrics as logged (fractions)
            low, high = metric_range(names)
            low, high = low, high / 100 if high == 100 else high
            values, label = table[column], pd.Series(names, index=table.index)
        elif column in VALUE_COLUMNS:
            label = table.get("metric", table.get("measure", pd.Series(objective, index=table.index)))
            values = table[column]
        else:
            continue
        for name, value in zip(label, values):
            if column.startswith("metrics."):
                ok = pd.isna(value) or low <= value <= high
            else:
                lo, hi = metric_range(str(name))
                ok = pd.isna(value) or lo <= value <= hi
            if not ok:
                bad.append(f"{csv.name}:{column}={value}")
    return bad


@pytest.mark.parametrize("sweep", ["one_seed", "two_seeds", "five_seeds", "tpe"])
def test_every_value_in_every_csv_lies_in_its_metric_range(stats_store, tmp_path, sweep):  # noqa: F811
    out = tmp_path / sweep
    result = report(stats_store, out, "--sweep", sweep, "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 0, result.output
    csvs = [p for p in out.rglob("*.csv") if p.name not in ("confusion_matrix.csv", "most_confused.csv")]
    assert len(csvs) >= 4
    assert [bad for csv in csvs for bad in _out_of_range(csv)] == []


def test_thin_reports_carry_warnings(stats_store, tmp_path):  # noqa: F811
    result = report(stats_store, tmp_path / "one", "--sweep", "one_seed")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "one" / "index.html").read_text()
    assert '<p class="warning">Warning: only 4 completed trials (fewer than 5)' in page
    assert "no band (n = 1)" in page  # the caption says what the (absent) band is
    result = report(stats_store, tmp_path / "tpe", "--sweep", "tpe", "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "tpe" / "index.html").read_text()
    assert "Warning: importances from only 7 completed trials (fewer than 10)" in page
    assert "Warning: only" not in page  # 7 completed trials: enough for the report itself
    steps = pd.read_csv(tmp_path / "tpe" / "intermediate_values.csv")
    assert set(steps.loc[steps["stopped"], "state"]) == {"PRUNED", "FAIL"}
    best = pd.read_csv(tmp_path / "tpe" / "best_so_far.csv")
    assert len(best) == 12 and set(best["state"]) == {"COMPLETE", "PRUNED", "FAIL"}


def test_a_partial_report_leaves_the_full_index_intact_and_is_listed_there(stats_store, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    assert report(stats_store, out, "--sweep", "five_seeds").exit_code == 0
    full = (out / "index.html").read_text()
    assert "More figures" not in full
    partial = report(stats_store, out, "--sweep", "five_seeds", "--heatmap", "weight_decay", "lr")
    assert partial.exit_code == 0, partial.output
    assert partial.stdout.strip() == str(out / "heatmap_weight_decay_lr.html")
    assert report(stats_store, out, "--sweep", "five_seeds", "--curves", "lr", "--x", "time").exit_code == 0
    index = (out / "index.html").read_text()
    start, end = index.index("<!-- cifarsweep:pages -->"), index.index("<!-- /cifarsweep:pages -->")
    assert index[:start] == full[:start] and index[end:] == full[full.index("<!-- /cifarsweep:pages -->") :]
    for page in ("heatmap_weight_decay_lr.html", "curves_lr_time.html"):
        assert f'<a href="{page}">' in index and (out / page).is_file()
    assert '<a href="index.html">' in (out / "curves_lr_time.html").read_text()
    assert (out / "heatmap_lr_weight_decay.png").is_file()  # the full report's own figures are still there


def test_the_page_has_scrolling_sortable_tables_full_run_ids_and_csv_links(stats_store, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    assert report(stats_store, out, "--sweep", "two_seeds").exit_code == 0
    page = (out / "index.html").read_text()
    assert '<div class="scroll"><table class="sortable">' in page and "<script>" in page
    assert "http" not in page.split("<script>")[1]  # no CDN: works offline
    run_ids = pd.read_csv(out / "trials.csv")["run_id"]
    assert all(f'<td class="id">{run_id}</td>' in page for run_id in run_ids)
    for name in ("heatmap_lr_weight_decay", "curves_lr", "curves_weight_decay"):
        assert f'<a href="{name}.csv">' in page
    text = html.unescape(page)
    assert "the range of the two values (n = 2)" in text and "clipped to the metric's range [0, 100] %" in text


TINY_SPEC = """\
name: tiny
base: {dataset: synthetic, train_subset: 200, val_subset: 100, model: resnet18, width: 8, epochs: 2, batch_size: 50, device: cpu}
sweep: {kind: grid, params: {lr: [0.01, 0.001], weight_decay: [0.0001, 0.0005]}, seeds: [0, 1]}
objective: {metric: val_acc, direction: maximize}
pruner: {kind: none}
"""


@pytest.mark.slow
def test_report_of_a_tiny_real_sweep(workdir):
    (workdir / "tiny.yaml").write_text(TINY_SPEC)
    ran = invoke("run", "tiny.yaml")
    assert ran.exit_code == 0, ran.output
    result = invoke("report")
    assert result.exit_code == 0, result.output
    out = workdir / "reports" / "tiny"
    assert result.stdout.strip() == str(Path("reports") / "tiny" / "index.html")
    for name in ("heatmap_lr_weight_decay", "curves_lr", "curves_weight_decay"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.csv").is_file(), name
    cells = pd.read_csv(out / "heatmap_lr_weight_decay.csv")
    assert cells["n"].tolist() == [2, 2, 2, 2] and (cells["band"] == "range").all()  # 2 seeds: their range
    assert cells["lower"].notna().all() and (cells["upper"] <= 100).all()
    schedules = pd.read_csv(out / "curves_lr_lr.csv")
    assert schedules.groupby("lr")["step"].count().tolist() == [2 * 4, 2 * 4]  # 2 epochs x 4 batches of 50
    assert len(pd.read_csv(out / "trials.csv")) == 8
    page = (out / "index.html").read_text()
    assert "Sweep tiny" in page and page.count("<img") == 4  # heatmap, two curves, the variance split
    configs = pd.read_csv(out / "configs.csv")  # every trial filed predictions.npz: each config is tested
    assert len(configs) == 4 and (configs["paired_seeds"].iloc[1:] == 2).all()
    assert (configs["paired_examples"].iloc[1:] == 2 * 100).all() and configs["p_vs_best"].iloc[1:].notna().all()
    assert (out / "best_run" / "confusion_matrix.png").is_file()
    client = MlflowClient(f"sqlite:///{(workdir / 'mlruns' / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("tiny").experiment_id
    parents = [r for r in client.search_runs([experiment]) if r.data.tags.get("cifarsweep.kind") == "sweep"]
    assert (Path(parents[0].info.artifact_uri.removeprefix("file://")) / "report" / "index.html").is_file()
