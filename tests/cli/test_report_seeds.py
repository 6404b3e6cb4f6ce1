"""The report's seed statistics end to end: configs.csv, variance.csv, the page's answer, --alpha."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import cifarsweep
from cifarsweep.analysis import seed_stats
from cifarsweep.trainer.predictions import Predictions
from tests.support.cli import invoke
from tests.support.report_fixtures import make_sweep, stats_store, trial  # noqa: F401  (fixture)

N = 200
RIGHT = {0.1: 170, 0.05: 168, 0.01: 120}  # examples right of N, plus the seed number
SPEC = {"name": "seeds", "sweep": {"kind": "grid", "params": {"lr": list(RIGHT)}, "seeds": [0, 1, 2]}}


def _hits(lr: float, seed: int) -> np.ndarray:
    hits = np.zeros(N, dtype=bool)
    hits[np.random.default_rng(int(lr * 1000) + seed).permutation(N)[: RIGHT[lr] + seed]] = True
    return hits


@pytest.fixture(scope="module")
def seeds_store(tmp_path_factory, mlflow_template):
    """A 3-lr x 3-seed grid whose runs hold predictions.npz (val_acc = their hits' mean)."""
    folder = tmp_path_factory.mktemp("seeds-store")
    shutil.copy(mlflow_template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    combos = [(lr, seed) for lr in RIGHT for seed in range(3)]
    trials = [trial({"lr": lr, "seed": seed}, [0.3, _hits(lr, seed).mean()]) for lr, seed in combos]
    _, runs = make_sweep(uri, "seeds", trials, ["lr"], spec=SPEC)
    client = MlflowClient(tracking_uri=uri)
    for run_id, (lr, seed) in zip(runs, combos):
        hits = _hits(lr, seed)
        path = folder / "predictions.npz"
        Predictions(np.arange(N), np.zeros(N, int), np.where(hits, 0, 1), hits).save(path)
        client.log_artifact(run_id, str(path))
    return {"uri": uri, "runs": dict(zip(combos, runs))}


def test_configs_variance_and_the_answer(seeds_store, tmp_path):
    out = tmp_path / "out"
    result = invoke("report", "--tracking-uri", seeds_store["uri"], "--out", out, "--sweep", "seeds")
    assert result.exit_code == 0, result.output
    configs = pd.read_csv(out / "configs.csv")
    assert list(configs.columns[:9]) == [
        "lr",
        "n",
        "mean",
        "ci_low",
        "ci_high",
        "interval",
        "median",
        "p_improve",
        "p_vs_best",
    ]
    assert configs["lr"].tolist() == [0.1, 0.05, 0.01] and (configs["n"] == 3).all()
    assert configs.loc[0, "mean"] == pytest.approx(100 * (170 + 171 + 172) / (3 * N))
    assert (configs["ci_low"] >= 0).all() and (configs["ci_high"] <= 100).all()
    # lr 0.01 against lr 0.1, pooled over the three seeds, by hand:
    a = np.concatenate([_hits(0.01, s) for s in range(3)])
    b = np.concatenate([_hits(0.1, s) for s in range(3)])
    assert configs.loc[2, "p_vs_best"] == pytest.approx(seed_stats.mcnemar_exact(a, b))
    assert configs["group"].tolist() == [True, True, False]
    variance = pd.read_csv(out / "variance.csv").set_index("source")
    assert set(variance.index) == {"lr", "seed"} and variance["share"].sum() == pytest.approx(1)
    assert variance.loc["lr", "share"] > 0.9
    assert (out / "variance.png").stat().st_size > 5_000
    page = (out / "index.html").read_text()
    assert f"lr explains {100 * variance.loc['lr', 'share']:.0f}%, seeds" in page
    assert "The best two configurations, lr=0.1 (n = 3) and lr=0.05 (n = 3)" in page
    assert "seeds per configuration" in page or "separated already" in page
    # The API's table is the report's.
    api = cifarsweep.load("seeds", tracking_uri=seeds_store["uri"]).configs
    np.testing.assert_allclose(api["p_vs_best"].to_numpy(float), configs["p_vs_best"].to_numpy(float))
    assert api["group"].tolist() == configs["group"].tolist()


def test_alpha_changes_the_group_and_bad_alpha_is_refused(seeds_store, tmp_path):
    results = cifarsweep.load("seeds", tracking_uri=seeds_store["uri"])
    p = results.configs.loc[1, "p_holm"]
    assert results.configs_at(alpha=min(0.99, p * 1.01))["group"].tolist()[:2] == [True, False]
    out = tmp_path / "bad"
    result = invoke("report", "--tracking-uri", seeds_store["uri"], "--out", out, "--sweep", "seeds", "--alpha", "1.5")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "--alpha" in result.stderr
    assert not out.exists()


def test_search_and_one_seed_say_what_they_cannot_split(stats_store, tmp_path):  # noqa: F811
    result = invoke("report", "--tracking-uri", stats_store["uri"], "--out", tmp_path / "tpe", "--sweep", "tpe")
    assert result.exit_code == 0, result.output
    assert "cannot separate seed noise" in (tmp_path / "tpe" / "index.html").read_text()
    assert not (tmp_path / "tpe" / "variance.csv").exists()
    result = invoke("report", "--tracking-uri", stats_store["uri"], "--out", tmp_path / "one", "--sweep", "one_seed")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "one" / "index.html").read_text()
    assert "No variance split: no configuration has two or more seeds" in page
    configs = pd.read_csv(tmp_path / "one" / "configs.csv")
    assert (configs["interval"] == "none").all() and configs["ci_low"].isna().all()
