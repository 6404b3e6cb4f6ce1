"""The configurations table: intervals, p_improve, the pooled paired test and the group."""

import numpy as np
import pandas as pd
import pytest

from cifarsweep.analysis import seed_stats
from cifarsweep.analysis.configs import OVERLAP, PAIRED, best_two, configs_table
from cifarsweep.trainer.predictions import Predictions

N = 200


def _run(run_id, lr, seed, correct):
    return {"run_id": run_id, "state": "COMPLETE", "params.lr": lr, "params.seed": seed, "metrics.val_acc": correct}


def _frame():
    """Three lrs x 3 seeds; per example: lr 0.1 right on 180, lr 0.05 on 178, lr 0.01 on 120 of 200."""
    rows, predictions = [], {}
    rng = np.random.default_rng(0)
    for lr, right in ((0.1, 180), (0.05, 178), (0.01, 120)):
        for seed in range(3):
            hits = np.zeros(N, dtype=bool)
            hits[rng.permutation(N)[: right + seed]] = True
            run_id = f"{lr}-{seed}"
            label = np.zeros(N, dtype=np.int64)
            predictions[run_id] = Predictions(np.arange(N), label, np.where(hits, 0, 1), hits | (np.arange(N) % 2 == 0))
            rows.append(_run(run_id, lr, seed, hits.mean()))
    return pd.DataFrame(rows), predictions


def test_table_columns_and_best_first():
    trials, predictions = _frame()
    table = configs_table(trials, "val_acc", "maximize", ["lr"], predictions)
    assert list(table["lr"]) == ["0.1", "0.05", "0.01"]
    assert {"n", "mean", "ci_low", "ci_high", "median", "p_improve", "p_vs_best", "group"} <= set(table.columns)
    assert (table["n"] == 3).all() and table["best"].tolist() == [True, False, False]
    assert (table["ci_low"] <= table["mean"]).all() and (table["mean"] <= table["ci_high"]).all()
    assert table["ci_high"].max() <= 100 and table["ci_low"].min() >= 0
    assert table.loc[0, "p_improve"] == 0.5 and table.loc[2, "p_improve"] == 0.0


def test_paired_test_pools_matching_seeds_and_decides_the_group():
    trials, predictions = _frame()
    table = configs_table(trials, "val_acc", "maximize", ["lr"], predictions, alpha=0.05)
    # By hand: pool the three seeds' examples of lr 0.01 against lr 0.1, then the exact McNemar test.
    a = np.concatenate([predictions[f"0.01-{s}"].correct for s in range(3)])
    b = np.concatenate([predictions[f"0.1-{s}"].correct for s in range(3)])
    worst = table.set_index("lr").loc["0.01"]
    assert worst["p_vs_best"] == pytest.approx(seed_stats.mcnemar_exact(a, b))
    assert worst["paired_seeds"] == 3 and worst["paired_examples"] == 3 * N
    assert table["group"].tolist() == [True, True, False]
    assert table["group_by"].tolist() == ["best", PAIRED, PAIRED]
    # Two comparisons with the best: Holm multiplies the smaller p by 2, the larger by 1 (then a running max).
    p_small, p_large = sorted(table.loc[1:, "p_vs_best"])
    assert sorted(table.loc[1:, "p_holm"]) == pytest.approx([2 * p_small, max(2 * p_small, p_large)])


def test_only_matching_examples_are_paired():
    trials, predictions = _frame()
    half = predictions["0.05-0"]
    predictions["0.05-0"] = Predictions(half.index[:50], half.label[:50], half.predicted[:50], half.top5[:50])
    table = configs_table(trials, "val_acc", "maximize", ["lr"], predictions).set_index("lr")
    assert table.loc["0.05", "paired_examples"] == 50 + 2 * N


def test_without_predictions_the_group_is_interval_overlap():
    trials, _ = _frame()
    table = configs_table(trials, "val_acc", "maximize", ["lr"], None)
    assert table["p_vs_best"].isna().all()
    assert table["group_by"].tolist()[1:] == [OVERLAP, OVERLAP]
    assert table.loc[2, "group"] == False  # noqa: E712  (numpy bool)


def test_best_two_says_how_many_seeds_would_separate_them():
    trials, predictions = _frame()
    table = configs_table(trials, "val_acc", "maximize", ["lr"], predictions)
    power = best_two(table, trials, "val_acc", ["lr"])
    assert power is not None and power["best"] == {"lr": "0.1"} and power["second"] == {"lr": "0.05"}
    assert power["difference"] == pytest.approx(1.0)  # 180 vs 178 of 200 right: one point
    assert power["seeds_needed"] == seed_stats.seeds_needed(power["difference"], power["spread"])


def test_saved_words_count_the_trials_against_the_full_grid():
    from cifarsweep.analysis.seed_report import saved_words

    spec = {"sweep": {"kind": "grid", "params": {"lr": [0.1, 0.01], "wd": [0, 1]}, "seeds": {"min": 2, "max": 4}}}
    assert saved_words(spec, 12) == (
        "Adaptive seeds ran 12 of the 16 trials of the full grid (2 to 4 seeds per cell, more only where a "
        "cell's interval overlapped the best's): 4 saved (25%)."
    )
    assert saved_words({"sweep": {"seeds": [0, 1]}}, 4) == ""


def test_the_heatmap_outlines_the_configurations_of_the_group():
    from cifarsweep.analysis.seed_report import group_cells

    configs = pd.DataFrame(
        {
            "lr": ["0.1", "0.1", "0.01", "0.01"],
            "wd": ["0", "1", "0", "1"],
            "mean": [90.0, 80.0, 85.0, 50.0],
            "group": [True, False, True, False],
        }
    )
    cells = pd.DataFrame({"lr": ["0.1", "0.01"]})  # a heatmap over lr alone: each cell the best of its wd
    assert group_cells(cells, configs, ["lr"], "max", "maximize").tolist() == [True, True]
    both = pd.DataFrame({"lr": ["0.1", "0.1", "0.01", "0.01"], "wd": ["0", "1", "0", "1"]})
    assert group_cells(both, configs, ["lr", "wd"], "max", "maximize").tolist() == [True, False, True, False]
    # Held at the lowest mean instead, neither cell shows a configuration of the group: no outline to draw.
    assert group_cells(cells, configs, ["lr"], "max", "minimize") is None
