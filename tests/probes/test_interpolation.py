"""The interpolation line keeps BatchNorm valid beyond [0, 1]; a point that cannot be evaluated says so."""

import math

import numpy as np
import torch

from cifarsweep.probes.grid import Grid
from cifarsweep.probes.landscape import (
    LandscapeOptions,
    SubsetLoss,
    center_and_directions,
    log_scaled_keys,
    plan_surfaces,
)
from cifarsweep.probes.landscape_plots import UNEVALUABLE_LABEL, interpolation_figure
from cifarsweep.trainer.device import Precision
from cifarsweep.trainer.models import build_model


def interpolation_measure():
    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=10, width=8)
    init = {name: value.clone() for name, value in model.state_dict().items()}
    final = {name: value.clone() for name, value in init.items()}
    for name in final:
        if name.endswith("running_var"):  # training shrinks variances: linear extrapolation goes negative
            final[name] = torch.full_like(final[name], 0.01)
    images, labels = torch.rand(40, 3, 32, 32), torch.arange(40) % 10
    measure = SubsetLoss(model, images, labels, torch.zeros(3), torch.ones(3), 20, Precision(None, "cpu"))
    spec = next(spec for spec in plan_surfaces(LandscapeOptions(dims=(1,))) if spec.kind == "interpolation")
    states = {"init": init, "final": final}
    names = [name for name, _ in model.named_parameters()]
    center, directions = center_and_directions(spec, states, names, 0, torch.device("cpu"))
    return measure, center, directions, log_scaled_keys(spec, states), model


def test_running_variances_stay_positive_when_extrapolating():
    measure, center, directions, log_scaled, model = interpolation_measure()
    assert log_scaled and all(name.endswith("running_var") for name in log_scaled)
    for alpha in (-0.5, 0.0, 1.0, 1.5):
        loss, acc = measure(center, directions, (alpha,), log_scaled)
        variances = [v for name, v in model.state_dict().items() if name.endswith("running_var")]
        assert all(bool((v > 0).all()) for v in variances), alpha
        assert math.isfinite(loss) and 0 <= acc <= 1, alpha
    measure(center, directions, (1.0,), log_scaled)  # the end is the trained network (up to rounding)
    assert torch.allclose(model.state_dict()["stem.1.running_var"], torch.full((8,), 0.01), rtol=1e-5)


def test_a_nan_loss_has_no_accuracy_and_is_marked():
    measure, center, directions, log_scaled, _ = interpolation_measure()
    measure.images = torch.full_like(measure.images, float("nan"))
    loss, acc = measure(center, directions, (0.5,), log_scaled)
    assert math.isnan(loss) and math.isnan(acc)  # not the 0.1 of argmax over NaN logits

    grid = Grid.empty("interpolation", {}, [np.array([0.0, 0.5, 1.0])])
    grid.record((0,), 2.3, 0.1)
    grid.record((1,), loss, acc)
    grid.record((2,), 0.5, 0.9)
    frame = grid.to_frame()
    assert frame["evaluable"].tolist() == [True, False, True]
    assert math.isnan(frame.loc[1, "acc"]) and math.isnan(frame.loc[1, "loss"])
    figure = interpolation_figure(grid)
    for ax in figure.axes:
        marked = [line for line in ax.lines if line.get_label() == UNEVALUABLE_LABEL]
        assert len(marked) == 1 and list(marked[0].get_xdata()) == [0.5]
