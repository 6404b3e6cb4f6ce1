"""Probes on a real run: a width-8 ResNet-18 trained for one epoch on 200 synthetic images.

The run is trained once for the module; each test works in its folder and
starts with no probe results in the run's artifacts.
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from mlflow.tracking import MlflowClient

from cifarsweep.config.training import TrainConfig
from cifarsweep.data import balanced_subset
from cifarsweep.data.augment import normalize, to_float
from cifarsweep.probes.grid import load_grid
from cifarsweep.probes.landscape import LandscapeOptions, run_landscape
from cifarsweep.probes.progress import PointProgress
from cifarsweep.probes.runs import open_run
from tests.support import TINY, files_under
from tests.support.cli import invoke


def store() -> str:
    """The embedded store of the current working directory, as an absolute URI (MLflow caches by URI)."""
    return f"sqlite:///{Path('mlruns/mlflow.db').resolve()}"


LANDSCAPE_FILES = [
    "line_init.npz",
    "line_init.csv",
    "line_final.npz",
    "line_final.csv",
    "interpolation.npz",
    "interpolation.csv",
    "plane_init.npz",
    "plane_init.csv",
    "plane_final.npz",
    "plane_final.csv",
    "lines.png",
    "interpolation.png",
    "plane_init.png",
    "plane_final.png",
    "plane_final_3d.png",
    "landscape.json",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_template):
    """(folder, run id, artifact folder) of one finished tiny training."""
    from cifarsweep.runs.tracked import train_tracked

    folder = tmp_path_factory.mktemp("probe-run")
    (folder / "mlruns").mkdir()
    shutil.copy(mlflow_template, folder / "mlruns" / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        tracked = train_tracked(TrainConfig(**{**TINY, "epochs": 1}))
    return folder, tracked.run_id, Path(tracked.artifact_uri.replace("file://", ""))


@pytest.fixture
def run_dir(trained, monkeypatch):
    folder, run_id, artifacts = trained
    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.rmtree(artifacts / "probes", ignore_errors=True)
    shutil.rmtree(folder / "mlruns" / ".probe-cache", ignore_errors=True)
    return trained


def logged(run_id: str, path: str) -> set[str]:
    return {Path(item.path).name for item in MlflowClient(store()).list_artifacts(run_id, path)}


class StopAfter(PointProgress):
    """Interrupts a landscape after ``points`` computed points, as Ctrl-C would."""

    def __init__(self, points: int):
        self.left = points
        self.finished = False

    def point(self, surface, loss):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt

    def finish(self):
        self.finished = True


@pytest.mark.slow
def test_loss_at_the_origin_is_the_loaded_models_loss(run_dir):
    _, run_id, _ = run_dir
    result = run_landscape(open_run(run_id), LandscapeOptions(line_points=3, subset=20, dims=(1,)))
    run = open_run(run_id)
    data = run.data(10)
    keep = balanced_subset(data.train_labels, 20, run.cfg.data_seed)
    inputs = normalize(to_float(data.train_images[keep]), data.mean, data.std)
    for name, alpha in (("final.pt", 1.0), ("init.pt", 0.0)):
        model = run.model(run.checkpoint(name), name)
        with torch.no_grad():
            expected = F.cross_entropy(model(inputs), data.train_labels[keep]).item()
        center = "line_" + name.split(".")[0]
        assert result.grids[center].value_at((0.0,)) == pytest.approx(expected, rel=1e-5)
        # The interpolation moves BatchNorm statistics too, so its ends are exactly the two checkpoints.
        assert result.grids["interpolation"].value_at((alpha,)) == pytest.approx(expected, rel=1e-5)
    assert result.subset == 20 and result.loss_at["final"] == pytest.approx(result.grids["line_final"].loss[1])


@pytest.mark.slow
def test_mixed_precision_is_chosen_like_the_trainer(run_dir):
    _, run_id, _ = run_dir
    options = LandscapeOptions(line_points=3, subset=16, dims=(1,))
    full = run_landscape(open_run(run_id), options)
    half = run_landscape(open_run(run_id), LandscapeOptions(line_points=3, subset=16, dims=(1,), amp="bf16"))
    assert (full.precision, half.precision) == ("off", "bf16")  # the run's amp=auto is full precision on a CPU
    assert half.done_before == 0  # a grid is not continued in another precision
    assert half.loss_at["final"] == pytest.approx(full.loss_at["final"], rel=0.05)


@pytest.mark.slow
def test_tiny_landscape_writes_values_and_figures_and_logs_them_to_the_run(run_dir):
    _, run_id, artifacts = run_dir
    result = invoke("landscape", run_id, "-n", "5", "--line-points", "5", "--subset", "16", "--surface-3d")
    assert result.exit_code == 0, result.output
    assert "loss at the initial weights" in result.stdout and "files:" in result.stdout
    folder = artifacts / "probes" / "landscape"
    for name in LANDSCAPE_FILES:
        assert (folder / name).is_file(), name
    assert set(LANDSCAPE_FILES) <= logged(run_id, "probes/landscape")
    plane = load_grid(folder / "plane_final.npz")
    assert plane.shape == (5, 5) and plane.complete and np.isfinite(plane.loss).all()
    assert plane.settings["subset"] == 16 and plane.settings["from"] == -1.0
    # The 1-D curve runs along the plane's first direction: it is the plane's middle column.
    assert np.allclose(load_grid(folder / "line_final.npz").loss, plane.loss[:, 2], rtol=1e-5)
    table = pd.read_csv(folder / "plane_final.csv")
    assert list(table.columns) == ["x", "y", "loss", "acc", "evaluable"] and len(table) == 25
    assert table["evaluable"].all()  # a trained net is finite everywhere on a small plane
    assert table["loss"].to_numpy() == pytest.approx(plane.loss.ravel())
    assert (folder / "plane_final.png").stat().st_size > 10_000


@pytest.mark.slow
def test_an_interrupted_grid_continues_where_it_stopped(run_dir):
    _, run_id, artifacts = run_dir
    options = LandscapeOptions(resolution=3, subset=16, dims=(2,))
    stop = StopAfter(4)
    with pytest.raises(KeyboardInterrupt):
        run_landscape(open_run(run_id), options, stop)
    assert stop.finished  # the progress bar is closed even when interrupted
    folder = artifacts / "probes" / "landscape"
    partial = load_grid(folder / "plane_init.npz")
    assert partial.done.sum() == 4 and not (folder / "plane_final.npz").exists()
    assert not list(folder.glob(".*.tmp"))

    resumed = run_landscape(open_run(run_id), options)
    assert (resumed.done_before, resumed.computed) == (4, 2 * 9 - 4)
    assert np.array_equal(resumed.grids["plane_init"].loss.ravel()[:4], partial.loss.ravel()[:4])

    shutil.rmtree(folder)
    fresh = run_landscape(open_run(run_id), options)
    assert fresh.done_before == 0
    for name in ("plane_init", "plane_final"):
        assert np.allclose(resumed.grids[name].loss, fresh.grids[name].loss, rtol=1e-6)


@pytest.mark.slow
def test_a_remote_artifact_store_downloads_checkpoints_and_uploads_results(run_dir, monkeypatch):
    folder, run_id, artifacts = run_dir
    monkeypatch.setattr("cifarsweep.probes.runs.local_artifact_dir", lambda uri: None)
    result = run_landscape(open_run(run_id), LandscapeOptions(line_points=3, subset=16, dims=(1,)))
    assert result.location.endswith("probes/landscape")
    assert (folder / "mlruns" / ".probe-cache" / run_id / "checkpoints" / "final.pt").is_file()
    assert (folder / "mlruns" / ".probe-cache" / run_id / "probes" / "landscape" / "lines.png").is_file()
    assert {"lines.png", "interpolation.csv", "line_final.npz"} <= logged(run_id, "probes/landscape")


@pytest.mark.slow
def test_filters_writes_its_figures_for_a_tiny_run(run_dir):
    _, run_id, artifacts = run_dir
    result = invoke("filters", run_id, "--images", "2", "--channels", "3")
    assert result.exit_code == 0, result.output
    folder = artifacts / "probes" / "filters"
    figures = ["first_conv_filters.png", "filter_responses.png"] + [
        f"feature_maps_{layer}.png" for layer in ("stem", "layer1", "layer2", "layer3", "layer4")
    ]
    for name in figures + ["first_conv_filters.npz", "filter_responses.npz", "feature_maps.npz", "feature_maps.csv"]:
        assert (folder / name).is_file(), name
    assert set(figures) <= logged(run_id, "probes/filters")
    with np.load(folder / "filter_responses.npz") as saved:
        assert saved["responses"].shape == (2, 6, 32, 32) and saved["images"].dtype == np.uint8
    with np.load(folder / "feature_maps.npz") as saved:
        assert saved["stem"].shape == (2, 8, 32, 32) and saved["layer4"].shape == (2, 64, 4, 4)
        assert (saved["stem"] >= 0).all()  # the stem ends in a ReLU


@pytest.mark.slow
def test_filters_of_a_chosen_layer_and_filter(run_dir):
    _, run_id, artifacts = run_dir
    result = invoke("filters", run_id, "--layer", "layer2.0.conv1", "--filter", "3", "--checkpoint", "init")
    assert result.exit_code == 0, result.output
    with np.load(artifacts / "probes" / "filters" / "filter_responses.npz") as saved:
        assert saved["filters"].tolist() == [3]
    with np.load(artifacts / "probes" / "filters" / "feature_maps.npz") as saved:
        assert list(saved.keys()) == ["layer2.0.conv1"] and saved["layer2.0.conv1"].shape[1:] == (16, 16, 16)


@pytest.mark.slow
def test_conv_geometry_with_a_run_uses_its_filters_and_logs_to_it(run_dir):
    folder, run_id, _ = run_dir
    result = invoke("conv-geometry", run_id, "--out", "geo")
    assert result.exit_code == 0, result.output
    with np.load(folder / "geo" / "feature_maps.npz") as saved:
        assert saved["weight"].shape == (8, 3, 3, 3)
    assert {"sizes.csv", "feature_maps.png", "feature_maps.npz"} <= logged(run_id, "probes/conv-geometry")


def make_run(config: dict, checkpoints_from: Path | None = None) -> str:
    """A run holding ``config`` as config.yaml and, optionally, another run's checkpoints."""
    client = MlflowClient(store())
    run_id = client.create_run(client.get_experiment_by_name("train").experiment_id).info.run_id
    client.log_text(run_id, yaml.safe_dump(config), "config.yaml")
    if checkpoints_from is not None:
        client.log_artifacts(run_id, str(checkpoints_from / "checkpoints"), "checkpoints")
    client.set_terminated(run_id)
    return run_id


@pytest.mark.slow
@pytest.mark.parametrize("command", ["landscape", "filters", "conv-geometry"])
@pytest.mark.parametrize(
    "case, named",
    [
        ("unknown", "no such run"),
        ("no checkpoint", "checkpoints/"),
        ("other architecture", "is not a resnet18 of width 16"),
    ],
)
def test_run_errors_exit_2_with_one_line(run_dir, command, case, named):
    _, _, artifacts = run_dir
    run_id = {
        "unknown": lambda: "0123456789abcdef0123456789abcdef",
        "no checkpoint": lambda: make_run(TINY),
        "other architecture": lambda: make_run({**TINY, "width": 16}, artifacts),
    }[case]()
    result = invoke(command, run_id)
    assert result.exit_code == 2, result.output
    assert named in result.stderr and run_id in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_an_unknown_layer_lists_the_valid_ones(run_dir):
    _, run_id, artifacts = run_dir
    result = invoke("filters", run_id, "--layer", "layer9")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "layer9" in line
    assert all(name in line for name in ("stem", "layer1", "layer4", "layer1.0.conv1"))
    assert not (artifacts / "probes").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, named",
    [
        (["--resolution", "1"], "--resolution"),
        (["--dims", "3"], "--dims"),
        (["--amp", "fp8"], "--amp"),
        (["--device", "tpu"], "--device"),
    ],
)
def test_bad_landscape_options_exit_2(run_dir, args, named):
    result = invoke("landscape", run_dir[1], *args)
    assert result.exit_code == 2 and named in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_store_means_no_run_and_nothing_written(empty_workdir):
    result = invoke("landscape", "0123456789abcdef0123456789abcdef")
    assert result.exit_code == 2 and "no tracking store" in result.stderr
    assert files_under(empty_workdir) == {}
