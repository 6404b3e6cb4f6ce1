"""Seed statistics against hand-computed values and scipy's own tests."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from cifarsweep.analysis import seed_stats
from cifarsweep.analysis.variance import sentence, variance_split


def test_interval_kinds_follow_n():
    assert seed_stats.bootstrap_interval([0.7])[2] == seed_stats.NONE
    assert np.isnan(seed_stats.bootstrap_interval([0.7])[0])
    assert seed_stats.bootstrap_interval([0.7, 0.6]) == (0.6, 0.7, seed_stats.RANGE)


def test_bootstrap_interval_matches_scipy_and_stays_inside_the_values():
    values = np.array([61.0, 63.5, 62.0, 64.5, 60.0])
    low, high, kind = seed_stats.bootstrap_interval(values)
    reference = scipy_stats.bootstrap(
        (values,), np.mean, confidence_level=0.95, method="percentile", n_resamples=20_000, random_state=1
    ).confidence_interval
    assert kind == seed_stats.BOOTSTRAP
    assert low == pytest.approx(reference.low, abs=0.15) and high == pytest.approx(reference.high, abs=0.15)
    assert values.min() <= low < values.mean() < high <= values.max()
    # Accuracies near 100 %: the interval of means cannot leave the values' range, hence the metric's.
    near_top = np.array([99.9, 100.0, 100.0, 99.8])
    assert seed_stats.bootstrap_interval(near_top)[1] <= 100.0


def test_p_improve_counts_pairings_and_ties_half():
    assert seed_stats.p_improve([1, 2, 3], [2, 2]) == pytest.approx(3 / 6)  # 2 wins, 2 ties, 2 losses
    assert seed_stats.p_improve([3, 4], [1, 2, 3.5]) == pytest.approx(5 / 6)
    assert seed_stats.p_improve([3, 4], [1, 2, 3.5], "minimize") == pytest.approx(1 / 6)
    u = scipy_stats.mannwhitneyu([3, 4, 2.5], [1, 2, 3.5, 2.5]).statistic
    assert seed_stats.p_improve([3, 4, 2.5], [1, 2, 3.5, 2.5]) == pytest.approx(u / 12)


def test_exact_mcnemar_by_hand():
    # 1 example only a gets right, 7 only b: p = 2 * (C(8,0) + C(8,1)) / 2^8.
    a = np.array([1] * 1 + [0] * 7 + [1] * 50 + [0] * 10, dtype=bool)
    b = np.array([0] * 1 + [1] * 7 + [1] * 50 + [0] * 10, dtype=bool)
    assert seed_stats.discordant(a, b) == (1, 7)
    assert seed_stats.mcnemar_exact(a, b) == pytest.approx(2 * 9 / 256)
    assert seed_stats.mcnemar_exact(a, a) == 1.0
    with pytest.raises(ValueError):
        seed_stats.mcnemar_exact(a, b[:-1])


def test_holm_step_down():
    np.testing.assert_allclose(seed_stats.holm([0.01, 0.04, 0.03, np.nan])[:3], [0.03, 0.06, 0.06])
    assert np.isnan(seed_stats.holm([0.01, np.nan])[1])


def test_seeds_needed_matches_the_t_test_tables():
    # Two-sample t-test, alpha 0.05 two-sided, power 0.8: d = 1 needs 17 per group, d = 0.5 needs 64.
    assert seed_stats.seeds_needed(1.0, 1.0) == 17
    assert seed_stats.seeds_needed(0.5, 1.0) == 64
    assert seed_stats.seeds_needed(0.1, 1.0) == 1571  # the coarse search walks back to the smallest n
    assert seed_stats.t_power(1571, 0.1, 0.05) >= 0.8 > seed_stats.t_power(1570, 0.1, 0.05)
    assert seed_stats.seeds_needed(1.0, 0.0) is None and seed_stats.seeds_needed(0.0, 1.0) is None


def test_variance_split_by_hand():
    runs = pd.DataFrame(
        {
            "a": ["a1"] * 4 + ["a2"] * 4,
            "b": ["b1", "b1", "b2", "b2"] * 2,
            "value": [1, 3, 3, 5, 5, 7, 11, 13],
        }
    )
    split = variance_split(runs, ["a", "b"]).set_index("source")
    # total SS 120: a 72, b 32, a x b 8, seed 8 (each cell +-1), nothing else.
    assert split.loc["a", "share"] == pytest.approx(72 / 120)
    assert split.loc["b", "share"] == pytest.approx(32 / 120)
    assert split.loc["a × b", "share"] == pytest.approx(8 / 120)
    assert split.loc["seed", "share"] == pytest.approx(8 / 120)
    assert split.loc["other interactions", "share"] == pytest.approx(0, abs=1e-12)
    assert split["share"].sum() == pytest.approx(1)
    words = sentence(split.reset_index(), "validation accuracy")
    assert words.startswith("Of the variance of validation accuracy over the finished runs, a explains 60%, b 27%")


def test_one_factor_split_agrees_with_scipy_anova():
    rng = np.random.default_rng(3)
    groups = [rng.normal(mu, 1.0, 4) for mu in (0.0, 0.5, 2.0)]
    runs = pd.DataFrame({"lr": np.repeat(["x", "y", "z"], 4), "value": np.concatenate(groups)})
    split = variance_split(runs, ["lr"]).set_index("source")
    f = (split.loc["lr", "sum_sq"] / 2) / (split.loc["seed", "sum_sq"] / 9)
    assert f == pytest.approx(scipy_stats.f_oneway(*groups).statistic)


def test_variance_split_needs_repeats():
    with pytest.raises(ValueError, match="two or more seeds"):
        variance_split(pd.DataFrame({"a": ["x", "y"], "value": [1.0, 2.0]}), ["a"])
