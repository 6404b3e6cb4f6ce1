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
