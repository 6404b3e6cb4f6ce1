"""`cifarsweep report` end to end: files, the HTML page, the parent run's artifacts, and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.support import files_under
from tests.support.cli import invoke
from tests.support.report_fixtures import report_store  # noqa: F401  (fixture)


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
    assert len(re.findall(r'<img src="[^"]+\.png"', page)) == 4
    assert "Blank cells (no finished run): grad_clip=None, weight_decay=5e-4, lr=1e-3;" in page
    rows = re.findall(r"<td>(trial-\d{4})</td>", page)
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
    assert sorted(p.name for p in out.iterdir()) == [
        "heatmap_lr_weight_decay.csv",
        "heatmap_lr_weight_decay.png",
        "index.html",
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
    for name in ("best_so_far", "parallel_coordinates", "importances", "curves_optimizer"):
        assert (out / f"{name}.png").is_file(), name
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
    assert cells["n"].tolist() == [2, 2, 2, 2] and cells["half_width"].notna().all()
    schedules = pd.read_csv(out / "curves_lr_lr.csv")
    assert schedules.groupby("lr")["step"].count().tolist() == [2 * 4, 2 * 4]  # 2 epochs x 4 batches of 50
    assert len(pd.read_csv(out / "trials.csv")) == 8
    page = (out / "index.html").read_text()
    assert "Sweep tiny" in page and page.count("<img") == 3
    assert (out / "best_run" / "confusion_matrix.png").is_file()
    client = MlflowClient(f"sqlite:///{(workdir / 'mlruns' / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("tiny").experiment_id
    parents = [r for r in client.search_runs([experiment]) if r.data.tags.get("cifarsweep.kind") == "sweep"]
    assert (Path(parents[0].info.artifact_uri.removeprefix("file://")) / "report" / "index.html").is_file()
