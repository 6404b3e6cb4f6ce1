"""Filter-normalised directions, moving a network in weight space, and the resumable grid (no run needed)."""

import numpy as np
import pytest
import torch

from cifarsweep.probes.directions import difference, filter_norms, move_to, random_directions
from cifarsweep.probes.grid import Grid, load_grid, resume_or_new
from cifarsweep.probes.landscape import LandscapeOptions, interpolation_axis, plan_surfaces
from cifarsweep.probes.output import ProbeOutput
from cifarsweep.trainer.models import build_model


def parameters(model):
    return {name: value.detach().clone() for name, value in model.named_parameters()}


@pytest.fixture
def model():
    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=10, width=8)
    with torch.no_grad():  # BatchNorm starts at weight 1, bias 0: make every tensor non-trivial
        for value in model.parameters():
            value.add_(0.1 * torch.randn_like(value))
    return model


def test_every_filter_of_a_direction_has_the_norm_of_its_weight_filter(model):
    weights = parameters(model)
    first, second = random_directions(weights, 2, seed=0)
    filtered = [name for name, value in weights.items() if value.dim() > 1]
    assert "stem.0.weight" in filtered and "head.weight" in filtered
    for direction in (first, second):
        for name in filtered:
            assert torch.allclose(filter_norms(direction[name]), filter_norms(weights[name]), rtol=1e-5), name
    assert not torch.allclose(first["stem.0.weight"], second["stem.0.weight"])


def test_bias_and_batchnorm_directions_are_zero(model):
    weights = parameters(model)
    (direction,) = random_directions(weights, 1, seed=3)
    flat = [name for name, value in weights.items() if value.dim() == 1]
    assert {"stem.1.weight", "stem.1.bias", "layer1.0.bn1.weight", "head.bias"} <= set(flat)
    for name in flat:
        assert torch.count_nonzero(direction[name]) == 0, name


def test_same_seed_same_gaussian_draw_scaled_to_each_centre(model):
    trained = parameters(model)
    initial = {name: 2.0 * value + 0.5 for name, value in trained.items()}
    (around_trained,), (around_initial,) = random_directions(trained, 1, 7), random_directions(initial, 1, 7)
    (again,) = random_directions(trained, 1, 7)
    assert torch.equal(again["layer2.0.conv1.weight"], around_trained["layer2.0.conv1.weight"])
    name = "layer2.0.conv1.weight"
    unit = lambda d, w: d[name] / filter_norms(w[name]).view(-1, 1, 1, 1)  # noqa: E731
    assert torch.allclose(unit(around_trained, trained), unit(around_initial, initial), atol=1e-6)


def test_moving_changes_parameters_and_keeps_batchnorm_statistics(model):
    model.layer1[0].bn1.running_mean.fill_(0.25)
    center = parameters(model)
    (direction,) = random_directions(center, 1, seed=0)
    targets = model.state_dict()
    move_to(targets, center, [direction], (0.5,))
    expected = center["layer1.0.conv1.weight"] + 0.5 * direction["layer1.0.conv1.weight"]
    assert torch.allclose(model.layer1[0].conv1.weight, expected)
    assert torch.equal(model.layer1[0].bn1.running_mean, torch.full((8,), 0.25))
    move_to(targets, center, [direction], (0.0,))
    assert all(torch.equal(value, center[name]) for name, value in model.named_parameters())


def test_difference_points_from_start_to_end():
    start, end = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([4.0, 0.0])}
    target = {"w": torch.zeros(2)}
    move_to(target, start, [difference(start, end)], (1.0,))
    assert torch.equal(target["w"], end["w"])


def test_interpolation_axis_holds_both_checkpoints():
    for points in (3, 5, 21, 41, 42):
        axis = interpolation_axis(points)
        assert len(axis) >= points and axis[0] == -0.5 and axis[-1] == 1.5
        assert np.isclose(axis, 0.0).any() and np.isclose(axis, 1.0).any()


def test_plan_covers_lines_interpolation_and_planes_before_and_after():
    names = [spec.name for spec in plan_surfaces(LandscapeOptions(resolution=5, line_points=7))]
    assert names == ["line_init", "line_final", "interpolation", "plane_init", "plane_final"]
    assert [spec.name for spec in plan_surfaces(LandscapeOptions(dims=(2,)))] == ["plane_init", "plane_final"]


def test_grid_saves_and_resumes_only_under_the_same_settings(tmp_path):
    axes = [np.linspace(-1, 1, 3), np.linspace(-1, 1, 3)]
    grid = Grid.empty("plane_final", {"seed": 0, "points": 3}, axes)
    assert len(list(grid.pending())) == 9
    grid.record((0, 0), 2.5, 0.1)
    grid.record((0, 1), float("nan"), 0.0)  # a diverged point counts as done
    output = ProbeOutput(tmp_path)
    output.save_arrays("plane_final.npz", grid.arrays())
    assert not list(tmp_path.glob(".*.tmp"))
    saved = load_grid(tmp_path / "plane_final.npz")
    assert saved.done.sum() == 2 and saved.loss[0, 0] == 2.5 and list(saved.pending())[0] == (0, 2)
    assert resume_or_new(tmp_path / "plane_final.npz", "plane_final", {"seed": 0, "points": 3}, axes).done.sum() == 2
    assert resume_or_new(tmp_path / "plane_final.npz", "plane_final", {"seed": 1, "points": 3}, axes).done.sum() == 0
    assert list(grid.to_frame().columns) == ["x", "y", "loss", "acc", "evaluable"] and len(grid.to_frame()) == 2
