"""Helpers shared by the tests: a tiny training config and a snapshot of files (to show nothing changed)."""

from __future__ import annotations

from pathlib import Path

TINY = {
    "dataset": "synthetic",
    "train_subset": 200,
    "val_subset": 100,
    "model": "resnet18",
    "width": 8,
    "epochs": 2,
    "batch_size": 50,
    "device": "cpu",
}


def files_under(path: Path) -> dict[str, float]:
    """Every file below ``path`` with its modification time, to show that nothing changed."""
    return {str(p.relative_to(path)): p.stat().st_mtime for p in path.rglob("*") if p.is_file()}
