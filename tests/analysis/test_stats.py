"""Honest statistics (issue 13): intervals only over the seeds of one configuration, n shown, in range.

The sweeps have known values (tests/support/report_fixtures.py): a 2 x 2 grid of
lr and weight_decay with 1, 2 and 5 seeds, and a TPE search with pruned and
failed trials.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from cifarsweep.analysis import frames, search_frames
from cifarsweep.metrics import metric_range
from cifarsweep.tracking import query
from tests.support.report_fixtures import OFFSETS, SKEWED, TPE_FAILED, TPE_PRUNED, stats_store  # noqa: F401


@pytest.fixture(scope="module")
def sweeps(stats_store):  # noqa: F811
    return {name: query.load_sweep(name, stats_store["uri"]) for name in ("one_seed", "two_seeds", "five_seeds", "tpe")}


def cells(data, **kwargs) -> pd.DataFrame:
    table = frames.cell_table(data.trials, "val_acc", "lr", "weight_decay", swept=data.sweep.swept_params, **kwargs)
    return table.set_index([table["lr"].astype(str), table["weight_decay"].astype(str)])


def final_curves(data, param="lr") -> pd.DataFrame:
    table = frames.curve_table(data.trials, data.metrics, param, ["val_acc", "val_loss"], swept=data.sweep.swept_params)
    final = table[(table["metric"] == "val_acc") & (table["epoch"] == 2)]
    return final.set_index(final[param].astype(str))


def test_one_seed_has_no_band_anywhere(sweeps):
    table = cells(sweeps["one_seed"])
    assert (table["n"] == 1).all() and (table["band"] == "none").all()
    assert table["lower"].isna().all() and table["half_width"].isna().all()
    assert table.loc[("0.01", "5e-4"), "annotation"] == "70.0\nn=1"
    curves = final_curves(sweeps["one_seed"])
    assert (curves["n"] == 1).all() and curves["lower"].isna().all() and curves["upper"].isna().all()


def test_two_seeds_show_their_range_not_a_t_interval(sweeps):
    row = cells(sweeps["two_seeds"]).loc[("0.01", "1e-4")]
    assert row["n"] == 2 and row["band"] == "range" and np.isnan(row["half_width"])
    assert (row["mean"], row["lower"], row["upper"]) == pytest.approx((60.0, 59.0, 61.0))
    curves = final_curves(sweeps["two_seeds"])
    assert (curves["n"] == 2).all() and (curves["band"] == "range").all()
    assert (curves.loc["0.01", "lower"], curves.loc["0.01", "upper"]) == pytest.approx((69.0, 71.0))


def test_five_seeds_get_a_t_interval_clipped_to_the_range(sweeps):
    table = cells(sweeps["five_seeds"])
    plain = table.loc[("0.01", "1e-4")]
    spread = np.std(100 * np.asarray(OFFSETS[5]), ddof=1)
    half = scipy_stats.t.ppf(0.975, 4) * spread / np.sqrt(5)
    assert plain["n"] == 5 and plain["band"] == "t95" and plain["half_width"] == pytest.approx(half)
    assert (plain["lower"], plain["upper"]) == pytest.approx((60 - half, 60 + half)) and not plain["clipped"]
    skewed = table.loc[("0.01", "5e-4")]
    mean, half = 100 * np.mean(SKEWED), scipy_stats.t.ppf(0.975, 4) * np.std(100 * np.asarray(SKEWED), ddof=1) / 5**0.5
    assert mean + half > 100  # the t-interval would pass 100 %
    assert skewed["upper"] == 100.0 and skewed["lower"] == pytest.approx(mean - half) and skewed["clipped"]
    assert skewed["annotation"] == f"{mean:.1f} ± {half:.1f}\nn=5"


def test_curves_hold_the_other_parameter_instead_of_pooling_it(sweeps):
    curves = final_curves(sweeps["five_seeds"])
    # One configuration per line (the best weight_decay for each lr), so n is its 5 seeds, not 10 runs.
    assert (curves["n"] == 5).all() and (curves["configs"] == 1).all()
    assert curves.loc["0.01", "mean"] == pytest.approx(100 * np.mean(SKEWED))
    assert curves.loc["0.01", "upper"] == 100.0 and curves["upper"].max() <= 100.0
    averaged = frames.curve_table(
        sweeps["five_seeds"].trials,
        sweeps["five_seeds"].metrics,
        "lr",
        ["val_acc"],
        swept=["lr", "weight_decay"],
        agg="mean",
    )
    assert (averaged["configs"] == 2).all() and averaged["lower"].isna().all()  # an average: no band


def test_every_band_lies_in_the_metric_range(sweeps):
    for data in sweeps.values():
        table = frames.curve_table(data.trials, data.metrics, "lr", ["val_acc", "val_loss"], swept=["lr"])
        for metric, part in table.groupby("metric"):
            low, high = metric_range(str(metric))
            assert (part["lower"].dropna() >= low).all() and (part["upper"].dropna() <= high).all()


def test_cells_whose_interval_overlaps_the_best_are_marked():
    # a: 70 ± 12.4 (the best), b: 69 ± 2.5 (inside it), c: 50 ± 2.5 (told apart from the best).
    values = {"a": [0.65, 0.70, 0.75], "b": [0.68, 0.69, 0.70], "c": [0.49, 0.50, 0.51]}
    rows = [(x, v) for x, vs in values.items() for v in vs]
    trials = pd.DataFrame(
        {
            "state": "COMPLETE",
            "params.x": [x for x, _ in rows],
            "params.y": "same",
            "metrics.val_acc": [v for _, v in rows],
        }
    )
    table = frames.cell_table(trials, "val_acc", "x", "y").set_index("x")
    assert table["overlaps_best"].to_dict() == {"a": True, "b": True, "c": False}


def test_blank_cells_say_why():
    trials = pd.DataFrame(
        {
            "state": ["COMPLETE", "PRUNED", "PRUNED", "FAIL", "FAIL", "PRUNED"],
            "params.x": [1, 2, 2, 3, 4, 4],
            "params.y": "same",
            "metrics.val_acc": [0.5, np.nan, np.nan, np.nan, np.nan, np.nan],
        }
    )
    table = frames.cell_table(trials, "val_acc", "x", "y", levels={"x": [1, 2, 3, 4, 5]})
    assert table["blank"].tolist() == ["", "all pruned", "all failed", "no finished run: 1 fail, 1 pruned", "no run"]


def test_search_best_so_far_and_intermediate_values_keep_every_trial(sweeps):
    data = sweeps["tpe"]
    best = search_frames.best_so_far(data.trials, data.metrics, "val_acc", "maximize")
    assert best["trial"].tolist() == list(range(12))
    assert (best["state"] == "PRUNED").sum() == len(TPE_PRUNED) and best["state"].iloc[TPE_FAILED] == "FAIL"
    completed = best["state"] == "COMPLETE"
    assert best.loc[completed, "best"].tolist() == list(np.maximum.accumulate(best.loc[completed, "value"]))
    # A pruned trial is drawn where it stopped but never becomes the best.
    assert set(best["best"].dropna()) <= set(best.loc[completed, "value"])
    steps = search_frames.intermediate_table(data.trials, data.metrics, "val_acc")
    assert steps["trial"].nunique() == 12
    stopped = steps[steps["stopped"]]
    assert dict(zip(stopped["trial"], stopped["epoch"])) == {**TPE_PRUNED, TPE_FAILED: 1}


def test_search_slices_keep_continuous_values_as_numbers(sweeps):
    data = sweeps["tpe"]
    logs = search_frames.log_params(data.trials, ["lr", "weight_decay"], data.sweep.spec["sweep"]["params"])
    assert logs == ["lr"]
    table = search_frames.slice_table(data.trials, ["lr", "weight_decay"], "val_acc", logs)
    lr = table[table["param"] == "lr"]
    done = frames.finished(data.trials, "val_acc").sort_values("trial")
    assert lr["number"].tolist() == pytest.approx(done["params.lr"].tolist()) and lr["log"].all()
    assert len(lr) == 12 - len(TPE_PRUNED) - 1 and lr["number"].nunique() == len(lr)  # never binned


def test_trials_table_shows_state_last_value_and_reason(sweeps):
    data = sweeps["tpe"]
    last = search_frames.last_values(data.metrics, "val_acc")
    table = frames.trials_table(data.trials, "val_acc", "maximize", ["lr", "weight_decay"], last).set_index("trial")
    pruned = table.loc[3]
    assert pruned["state"] == "PRUNED" and pruned["reason"] == "pruned by MedianPruner"
    expected = data.trials.set_index("trial").loc[3]
    assert pruned["last value"] == f"{100 * last[expected['run_id']]:.1f}%"  # as NUMBER_FORMAT.md says
    assert len(pruned["run_id"]) == 32  # the full id
