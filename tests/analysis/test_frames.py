"""Reading sweeps back (tracking.query) and the numbers behind the report (analysis.frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cifarsweep.analysis import frames, search_frames
from cifarsweep.errors import UserError
from cifarsweep.tracking import query
from tests.support.report_fixtures import report_store  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def grid(report_store):  # noqa: F811
    return query.load_sweep("grid", report_store["uri"])


def cell(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        mask &= (table[key].astype(str) == value).to_numpy()
    assert mask.sum() == 1, where
    return table[mask].iloc[0]


# -- query -------------------------------------------------------------------------------------
def test_trials_frame_has_typed_params_states_and_final_metrics(grid):
    trials = grid.trials
    assert len(trials) == 14 and trials["trial"].tolist() == list(range(14))
    assert trials["state"].value_counts().to_dict() == {"COMPLETE": 12, "FAIL": 1, "PRUNED": 1}
    assert dict(zip(trials["state"], trials["status"])) == {
        "COMPLETE": "FINISHED",
        "FAIL": "FAILED",
        "PRUNED": "KILLED",
    }
    assert trials["params.lr"].dtype == float and trials["params.batch_size"].dtype == "Int64"
    assert trials["params.grad_clip"].isna().sum() == 8  # "None" comes back as missing, not the text
    assert trials["params.hflip"].dtype == bool and trials["params.optimizer"].iloc[0] == "adam"
    assert trials.loc[0, "metrics.val_acc"] == pytest.approx(0.59)
    assert trials.loc[12, "reason"] == "RuntimeError: boom" and trials.loc[0, "epochs_done"] == 3
    assert trials.loc[0, "steps_per_epoch"] == 4 and trials.loc[0, "duration_s"] == pytest.approx(30.0)
    assert grid.sweep.swept_params == ["lr", "weight_decay", "grad_clip"] and grid.sweep.objective == "val_acc"
    assert grid.sweep.spec["sweep"]["params"]["weight_decay"] == [1e-4, 5e-4, 1e-3]  # from the parent's spec.json
    assert grid.sweep.base_params["epochs"] == 3


def test_metrics_frame_is_long_and_tidy(grid):
    metrics = grid.metrics
    assert list(metrics.columns) == ["run_id", "metric", "step", "value", "timestamp"]
    first = grid.trials.loc[0, "run_id"]
    val_acc = metrics[(metrics["run_id"] == first) & (metrics["metric"] == "val_acc")]
    assert val_acc["step"].tolist() == [1, 2, 3]
    assert val_acc["value"].tolist() == pytest.approx([0.59 / 3, 2 * 0.59 / 3, 0.59])
    assert (val_acc["timestamp"].diff().dropna() == pd.Timedelta(seconds=10)).all()


def test_load_sweep_reads_in_a_few_queries_whatever_the_number_of_runs(report_store, monkeypatch):  # noqa: F811
    from cifarsweep.tracking import readers

    calls = []
    original = readers._SqlReader.frame
    monkeypatch.setattr(readers._SqlReader, "frame", lambda self, *a: calls.append(1) or original(self, *a))
    query.load_sweep("unfinished", report_store["uri"], metrics=["val_acc"])  # 2 runs
    few = len(calls)
    query.load_sweep("grid", report_store["uri"])  # 14 runs, every metric
    assert few == len(calls) - few <= 8  # parents, their tags and params; runs, tags, params, latest; history


def test_sweeps_are_listed_newest_first_and_found_by_name(report_store):  # noqa: F811
    sweeps = query.list_sweeps(report_store["uri"])
    assert sweeps["name"].tolist() == ["search", "unfinished", "ablation", "grid"]
    assert query.latest_sweep(report_store["uri"]) == "search"
    assert query.load_sweep(None, report_store["uri"]).sweep.name == "search"
    with pytest.raises(UserError, match=r"no sweep named 'nope'.*sweeps: search, unfinished, ablation, grid"):
        query.load_sweep("nope", report_store["uri"])


def test_a_missing_store_is_a_user_error_and_is_not_created(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    with pytest.raises(UserError, match="no MLflow store"):
        query.load_sweep(None, uri)
    assert not (tmp_path / "mlruns").exists()


# -- heatmap cells -----------------------------------------------------------------------------
def test_cells_averaged_over_other_params_have_no_interval(grid):
    table = frames.cell_table(
        grid.trials,
        "val_acc",
        "lr",
        "weight_decay",
        swept=grid.sweep.swept_params,
        agg="mean",
        levels=grid.sweep.spec["sweep"]["params"],
    )
    assert table["lr"].cat.categories.tolist() == ["1e-3", "0.01"]
    assert table["weight_decay"].cat.categories.tolist() == ["1e-4", "5e-4", "1e-3"]
    row = cell(table, lr="0.01", weight_decay="1e-4")
    # mean of the grad_clip cells' means (60 and 64): an average over configurations is no interval
    assert row["mean"] == pytest.approx(62.0) and row["n"] == 4 and row["cells"] == 2
    assert np.isnan(row["half_width"]) and np.isnan(row["lower"]) and row["band"] == "none"
    assert row["annotation"] == "62.0\nn=4, 2 configs"
    assert cell(table, lr="1e-3", weight_decay="1e-4")["mean"] == pytest.approx(52.0)


def test_cells_without_finished_runs_are_blank(grid):
    table = frames.cell_table(
        grid.trials,
        "val_acc",
        "lr",
        "weight_decay",
        swept=grid.sweep.swept_params,
        levels=grid.sweep.spec["sweep"]["params"],
    )
    assert len(table) == 6
    failed_only = cell(table, lr="1e-3", weight_decay="5e-4")  # its one run failed
    never_run = cell(table, lr="0.01", weight_decay="1e-3")  # in the spec, never started
    for row in (failed_only, never_run):
        assert row["n"] == 0 and np.isnan(row["mean"])
    assert failed_only["annotation"] == "all failed" and never_run["annotation"] == "no run"
    assert frames.blank_cells(table, ["weight_decay", "lr"]) == [
        "weight_decay=5e-4, lr=1e-3 (all failed)",
        "weight_decay=1e-3, lr=1e-3 (no run)",
        "weight_decay=1e-3, lr=0.01 (no run)",
    ]


def test_agg_max_keeps_the_best_cell_and_names_it(grid):
    table = frames.cell_table(grid.trials, "val_acc", "lr", "weight_decay", swept=grid.sweep.swept_params, agg="max")
    row = cell(table, lr="0.01", weight_decay="5e-4")
    assert row["mean"] == pytest.approx(74.0) and row["n"] == 2 and row["best_of"] == "grad_clip=0.1"
    # n = 2: the two seeds' range, not a t-interval (t with 1 dof = 12.7 would span far past the data)
    assert np.isnan(row["half_width"]) and row["band"] == "range"
    assert (row["lower"], row["upper"]) == pytest.approx((73.0, 75.0))
    lowest = frames.cell_table(
        grid.trials, "val_acc", "lr", "weight_decay", swept=grid.sweep.swept_params, agg="max", direction="minimize"
    )
    assert cell(lowest, lr="0.01", weight_decay="5e-4")["best_of"] == "grad_clip=None"


def test_facets_split_the_cells_by_a_third_param(grid):
    table = frames.cell_table(
        grid.trials, "val_acc", "lr", "weight_decay", facet="grad_clip", swept=grid.sweep.swept_params
    )
    assert table["grad_clip"].cat.categories.tolist() == ["None", "0.1"] and len(table) == 8
    row = cell(table, grad_clip="None", lr="0.01", weight_decay="1e-4")
    assert row["mean"] == pytest.approx(60.0) and row["n"] == 2 and row["cells"] == 1
    assert row["annotation"] == "60.0\n59.0–61.0, n=2"
    assert cell(table, grad_clip="0.1", lr="0.01", weight_decay="5e-4")["mean"] == pytest.approx(74.0)


def test_one_seed_has_no_interval():
    trials = pd.DataFrame(
        {"state": ["COMPLETE"] * 2, "params.a": [1, 2], "params.b": ["x", "x"], "metrics.val_loss": [0.5, 0.25]}
    )
    table = frames.cell_table(trials, "val_loss", "a", "b")
    assert table["n"].tolist() == [1, 1] and table["half_width"].isna().all()
    assert table["annotation"].tolist() == ["0.500\nn=1", "0.250\nn=1"]
    assert table["band"].tolist() == ["none", "none"] and table["lower"].isna().all()


def test_many_distinct_values_are_binned_on_a_log_scale():
    values = pd.Series(np.geomspace(1e-4, 1e-1, 40))
    binned = frames.labels(values)
    assert len(binned.categories) == frames.BINS and binned.categories[0] == "1e-4–3.16e-4"
    assert pd.Series(binned).value_counts().sum() == 40


# -- curves, ablation, searches -------------------------------------------------------------------
def test_curves_averaged_over_other_params_draw_no_band(grid):
    table = frames.curve_table(
        grid.trials, grid.metrics, "grad_clip", ["val_acc", "val_loss"], swept=grid.sweep.swept_params, agg="mean"
    )
    final = table[(table["metric"] == "val_acc") & (table["epoch"] == 3)].set_index("grad_clip")
    assert final.loc["None", "mean"] == pytest.approx(100 * np.mean([0.59, 0.61, 0.69, 0.71, 0.49, 0.51]))
    assert final.loc["None", "n"] == 6 and final.loc["None", "configs"] == 3  # the pruned run is left out
    assert final["lower"].isna().all() and final["upper"].isna().all() and set(final["band"]) == {"none"}
    assert final.loc["None", "elapsed_s"] == pytest.approx(30.0)
    assert set(table["unit"]) == {"%", ""}


def test_curves_with_agg_max_use_the_best_cell_of_each_value(grid):
    table = frames.curve_table(grid.trials, grid.metrics, "lr", ["val_acc"], swept=grid.sweep.swept_params, agg="max")
    final = table[table["epoch"] == 3].set_index("lr")
    assert final.loc["0.01", "mean"] == pytest.approx(74.0) and final.loc["0.01", "n"] == 2
    assert (final.loc["0.01", "lower"], final.loc["0.01", "upper"]) == pytest.approx((73.0, 75.0))  # the range
    assert final.loc["1e-3", "mean"] == pytest.approx(54.0)


def test_ablation_compares_each_variant_with_the_full_recipe(report_store):  # noqa: F811
    data = query.load_sweep("ablation", report_store["uri"])
    table = frames.ablation_table(data.trials, "val_acc")
    accuracy = table[table["measure"] == "val_acc"]
    assert accuracy["variant"].tolist() == ["full", "no_mixup", "no_crop"]  # reference first, then by delta
    full = accuracy.iloc[0]
    assert full["reference"] and full["mean"] == pytest.approx(72.0) and full["delta"] == 0
    assert full["half_width"] == pytest.approx(stats.t.ppf(0.975, 2) * 2.0 / np.sqrt(3)) and full["band"] == "t95"
    assert full["upper"] - full["mean"] == pytest.approx(full["half_width"])
    crop = accuracy.set_index("variant").loc["no_crop"]
    assert crop["delta"] == pytest.approx(-11.0) and crop["overrides"] == '{"random_crop": false}'
    gap = table[table["measure"] == "gen_gap"].set_index("variant")
    assert gap.loc["no_crop", "mean"] == pytest.approx(22.0) and gap.loc["no_crop", "unit"] == "points"


def test_best_so_far_follows_trial_order(report_store):  # noqa: F811
    data = query.load_sweep("search", report_store["uri"])
    table = search_frames.best_so_far(data.trials, data.metrics, "val_acc", "maximize")
    assert len(table) == 15 and table["state"].iloc[-1] == "RUNNING"  # every trial, the running one too
    done = table[table["state"] == "COMPLETE"]
    assert done["best"].tolist() == list(np.maximum.accumulate(done["value"]))
    assert table["trial"].is_monotonic_increasing


def test_parallel_coordinates_place_values_between_their_extremes(report_store):  # noqa: F811
    data = query.load_sweep("search", report_store["uri"])
    table = search_frames.parallel_table(data.trials, ["lr", "optimizer"], "val_acc", log_params=["lr"])
    lr = table[table["axis"] == "lr"]
    assert lr["position"].min() == 0 and lr["position"].max() == 1
    expected = (np.log10(lr["number"]) - np.log10(lr["number"]).min()) / np.ptp(np.log10(lr["number"]))
    assert lr["position"].to_numpy() == pytest.approx(expected.to_numpy())
    optimizer = table[table["axis"] == "optimizer"]
    assert dict(zip(optimizer["value"], optimizer["position"])) == {"adam": 0.0, "sgd": 1.0}


def test_format_value_writes_numbers_as_people_do():
    assert [
        frames.format_value(v) for v in (1e-4, 0.0001, 5e-4, 2.5e-4, 0.1, 256, None, float("nan"), True, "adam", 3e5)
    ] == [
        "1e-4",
        "1e-4",
        "5e-4",
        "2.5e-4",
        "0.1",
        "256",
        "None",
        "None",
        "True",
        "adam",
        "3e5",
    ]


# -- learning-rate schedules -------------------------------------------------------------------
def test_lr_schedule_table_uses_each_value_best_run_and_its_steps(grid):
    table = frames.lr_schedule_table(grid.trials, "lr", "val_acc", "maximize", grid.run_config)
    assert table["lr"].cat.categories.tolist() == ["1e-3", "0.01"]
    high = table[table["lr"] == "0.01"]
    assert high["run_name"].iloc[0] == "trial-0007" and len(high) == 3 * 4  # 3 epochs x 4 steps
    assert high["learning_rate"].max() == pytest.approx(0.01, rel=1e-2)  # OneCycle's peak falls between steps
    assert high["epoch"].tolist() == pytest.approx([s / 4 for s in range(12)])


def test_steps_per_epoch_fallback_counts_full_batches_as_the_trainer_does():
    # A run without the steps_per_epoch tag: 1000 images in batches of 128 are 7 full batches
    # (the trainer drops the partial one), not ceil(1000 / 128) = 8.
    from cifarsweep.config.training import steps_per_epoch

    untagged = pd.Series({"steps_per_epoch": np.nan, "train_images": 1000})
    assert frames.run_steps_per_epoch(untagged, 128) == steps_per_epoch(1000, 128) == 7
    assert frames.run_steps_per_epoch(pd.Series({"steps_per_epoch": 5, "train_images": 1000}), 128) == 5
