"""The benchmark scripts still run (tiny settings, a few seconds): a smoke test, not a timing test."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root holds benchmarks/

from benchmarks import augment, logging_overhead, throughput


def test_augment_benchmark_prints_every_pipeline(capsys):
    rows = augment.main(
        [
            "--devices",
            "cpu",
            "--images",
            "128",
            "--tv-images",
            "32",
            "--batch",
            "16",
            "--workers",
            "1",
            "--repeats",
            "1",
        ]
    )
    names = [row["pipeline"] for row in rows]
    assert "cifarsweep batched" in names and "torchvision per-sample, 1 workers" in names
    assert any("MixUp/CutMix" in name for name in names)
    assert all(row["images_per_s"] > 0 and row["vs_inprocess"] > 0 for row in rows)
    assert "| cifarsweep batched + MixUp/CutMix | cpu |" in capsys.readouterr().out


def test_throughput_benchmark_runs_both_pipelines(capsys):
    rows = throughput.main(
        [
            "--device",
            "cpu",
            "--model",
            "resnet18",
            "--width",
            "4",
            "--batch",
            "8",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--repeats",
            "1",
            "--workers",
            "0",
        ]
    )
    by_name = {row["pipeline"]: row for row in rows}
    assert set(by_name) == {"notebook", "plain", "cifarsweep"}
    assert by_name["notebook"]["ratio"] == pytest.approx(1.0) and by_name["plain"]["ratio_plain"] == pytest.approx(1.0)
    assert all(row["images_per_s"] > 0 and row["tflops"] > 0 for row in rows)
    out = capsys.readouterr().out
    assert "x notebook" in out and "x plain" in out and "trainer vs plain loop per round, CPU time" in out


def test_logging_overhead_benchmark_times_logging_and_checkpoints(tmp_path, capsys):
    rows = logging_overhead.main(
        [
            "--device",
            "cpu",
            "--model",
            "resnet18",
            "--width",
            "4",
            "--batch",
            "4",
            "--measure-steps",
            "1",
            "--epochs",
            "2",
            "--dir",
            str(tmp_path),
        ]
    )
    items = [row["item"] for row in rows]
    assert items[0].startswith("MLflow") and sum("checkpoint" in item for item in items) == 4
    assert all(row["blocking_ms"] > 0 and row["pct_gpu"] > 0 for row in rows)
    assert list(tmp_path.iterdir()) == []  # the temporary store and checkpoints are gone
    assert "stated GPU epoch" in capsys.readouterr().out


@pytest.mark.slow  # four small sweeps, two of them through the CLI
def test_trial_overhead_benchmark_prints_both_fixed_costs_and_the_breakdown(capsys, tmp_path, monkeypatch):
    from benchmarks import trial_overhead

    monkeypatch.chdir(tmp_path)
    result = trial_overhead.main(["--small", "1", "--large", "2", "--repeats", "1", "--default-only"])
    what = [row["what"] for row in result["rows"]]
    assert what[:2] == ["plain in-process loop", "`cifarsweep run`, default (trial_figures: auto)"]
    assert len(what) == 3 and what[2].startswith(
        "  then its deferred figures (0 and "
    )  # the first trial measures drawing
    parts = {row["part"] for row in result["breakdown"]}
    assert {"train", "evaluate", "MLflow calls", "Optuna calls", "figures", "checkpoints", "reconcile"} <= parts
    out = capsys.readouterr().out
    assert "fixed cost per trial (s)" in out and "x plain loop" in out and "Where a trial's time goes" in out


@pytest.mark.slow  # three one-trial sweeps through the CLI
def test_estimate_benchmark_compares_the_estimate_with_the_measured_sweep(capsys):
    from benchmarks import estimate

    rows = estimate.main(["--tiny", "--steps", "1"])
    assert [row["trials"] for row in rows] == [1, 1, 1]
    assert all(row["estimate_s"] > 0 and row["measured_s"] > 0 for row in rows)
    out = capsys.readouterr().out
    assert "| grid | trials | estimate (s) | measured wall (s) |" in out and "target" in out


@pytest.mark.slow  # one trial in a new process, a few tiny trainings
def test_packing_benchmark_prints_every_mode(capsys):
    from benchmarks import packing

    args = ["--widths", "8", "--packs", "1", "2", "--images", "64", "--val-images", "32", "--batch", "32"]
    rows = packing.main([*args, "--process-trials", "1"])
    assert [(row["mode"], row["k"]) for row in rows] == [
        ("one per process", 1),
        ("alone, one process", 1),
        ("packed", 2),
    ]
    assert all(row["trials_per_min"] > 0 for row in rows)
    assert "| resnet18 | 8 | 2 | packed |" in capsys.readouterr().out
