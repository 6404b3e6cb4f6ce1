"""The background checkpoint writer: snapshots, order, errors, and nothing left in flight."""

from pathlib import Path

import pytest
import torch

from cifarsweep.trainer import checkpoint as ckpt


def test_writes_a_snapshot_taken_at_save_time(tmp_path):
    weights = torch.zeros(1000)
    state = {"weights": weights, "nested": [{"step": torch.tensor(3)}], "epoch": 1}
    with ckpt.CheckpointWriter() as writer:
        writer.save([(state, tmp_path / "a.pt")])
        weights.add_(1.0)  # training goes on while the file is written
        state["nested"][0]["step"].add_(1)
    saved = ckpt.load_checkpoint(tmp_path / "a.pt")
    assert torch.equal(saved["weights"], torch.zeros(1000)) and int(saved["nested"][0]["step"]) == 3
    assert saved["epoch"] == 1 and not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_each_save_waits_for_the_previous_group(tmp_path):
    writer = ckpt.CheckpointWriter()
    for epoch in range(1, 4):
        writer.save([({"epoch": epoch}, tmp_path / "best.pt"), ({"epoch": epoch}, tmp_path / "last.pt")])
    writer.close()
    assert (
        ckpt.load_checkpoint(tmp_path / "last.pt")["epoch"] == 3
        and ckpt.load_checkpoint(tmp_path / "best.pt")["epoch"] == 3
    )


@pytest.mark.parametrize("background", [True, False])
def test_a_failed_write_is_raised_by_the_training_thread(tmp_path, background):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer = ckpt.CheckpointWriter(background)
    with pytest.raises(OSError):
        writer.save([({"epoch": 1}, blocker / "last.pt")])
        writer.close()
    writer.close()  # the error is reported once


def test_an_error_in_training_wins_over_a_write_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(KeyError):
        with ckpt.CheckpointWriter() as writer:
            writer.save([({"epoch": 1}, Path(blocker) / "last.pt")])
            raise KeyError("training failed")
