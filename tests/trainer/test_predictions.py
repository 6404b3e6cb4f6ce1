"""predictions.npz: the final validation pass example by example, compact, filed with the run."""

from pathlib import Path

import numpy as np
import pytest

from cifarsweep.trainer.predictions import Predictions


def test_round_trip_keeps_values_in_compact_types(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 100, 10_000)
    predictions = Predictions(np.arange(10_000), label, rng.integers(0, 100, 10_000), rng.random(10_000) < 0.8)
    path = predictions.save(tmp_path / "predictions.npz")
    back = Predictions.load(path)
    assert back.index.dtype == np.uint16 and back.label.dtype == np.uint8 and back.predicted.dtype == np.uint8
    assert back.top5.dtype == bool
    for name in ("index", "label", "predicted", "top5"):
        np.testing.assert_array_equal(getattr(back, name), getattr(predictions, name))
    # CIFAR-100's 10,000 validation images: well under 64 KB (50,000 bytes of arrays before compression).
    assert path.stat().st_size < 64_000


def test_unequal_lengths_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="different lengths"):
        Predictions(np.arange(3), np.arange(3), np.arange(2), np.ones(3, bool))
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ValueError, match="missing"):
        Predictions.load(other)


@pytest.mark.slow
def test_a_tracked_training_files_its_predictions(tiny, workdir):
    import cifarsweep
    from cifarsweep.tracking.client import client
    from cifarsweep.tracking.predictions import read_predictions

    result = cifarsweep.train(config=dict(tiny), epochs=1, experiment="predictions")
    assert result.predictions is not None and len(result.predictions) == tiny["val_subset"]
    assert result.predictions.correct.mean() == pytest.approx(result.val_acc)
    assert (result.predictions.top5 >= result.predictions.correct).all()  # a top-1 hit is a top-5 hit
    artifact_uri = client(result.tracking_uri).get_run(result.run_id).info.artifact_uri
    found = read_predictions([(result.run_id, artifact_uri)], result.tracking_uri)
    np.testing.assert_array_equal(found[result.run_id].predicted, result.predictions.predicted)
    np.testing.assert_array_equal(found[result.run_id].index, np.arange(tiny["val_subset"]))
    assert read_predictions([("missing", str(Path(workdir) / "nowhere"))]) == {}
