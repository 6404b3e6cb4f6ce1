"""What a trained run's convolutions do: first-layer filters, their responses, feature maps.

Everything here runs on the CPU in full precision: it is a few images through
one network, and the pictures should not depend on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cifarsweep.data import ImageData, balanced_subset
from cifarsweep.data.augment import normalize, to_float
from cifarsweep.errors import UserError
from cifarsweep.probes.directions import filter_norms
from cifarsweep.probes.options import CHECKPOINTS, FilterOptions
from cifarsweep.probes.runs import ProbeRun


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first convolution the input meets (module order is forward order in these ResNets)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise UserError("the model has no convolution")


def choose_filters(weight: torch.Tensor, requested: tuple[int, ...], count: int) -> list[int]:
    """The requested filter indices (checked), or the ``count`` filters with the largest norm."""
    total = weight.shape[0]
    for index in requested:
        if not 0 <= index < total:
            raise UserError(f"--filter {index}: the first convolution has {total} filters (0..{total - 1})")
    if requested:
        return list(dict.fromkeys(requested))
    return filter_norms(weight).argsort(descending=True)[: min(count, total)].tolist()


def sample_images(data: ImageData, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` validation images (uint8) spread over the classes, the same for the same seed."""
    keep = balanced_subset(data.val_labels, count, seed)
    return data.val_images[keep], data.val_labels[keep]


def filter_responses(conv: nn.Conv2d, inputs: torch.Tensor, indices: list[int]) -> torch.Tensor:
    """Each chosen filter alone on each image (N x len(indices) x H' x W'), before BatchNorm."""
    with torch.no_grad():
        return F.conv2d(inputs, conv.weight[indices], None, conv.stride, conv.padding, conv.dilation, conv.groups)


def layer_outputs(model: nn.Module, inputs: torch.Tensor, names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Outputs of the named modules (all of them when ``names`` is None) for one forward pass.

    Outputs are cloned in the hook: the stem's BatchNorm output, say, is
    overwritten by the in-place ReLU that follows it.
    """
    modules = dict(model.named_modules())
    wanted = [name for name in modules if name] if names is None else names
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name in wanted:

        def hook(_module, _inputs, output, name=name):
            if isinstance(output, torch.Tensor):
                captured[name] = output.detach().clone()

        handles.append(modules[name].register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return {name: captured[name] for name in wanted if name in captured}


def map_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the modules whose output is a stack of feature maps (N x C x H x W)."""
    return [name for name, output in layer_outputs(model, example[:1]).items() if output.dim() == 4]


def check_layers(requested: tuple[str, ...], valid: list[str]) -> None:
    """An unknown layer name is a one-line ``UserError`` that lists the valid ones."""
    unknown = [name for name in requested if name not in valid]
    if unknown:
        raise UserError(f"--layer {unknown[0]}: no such layer with feature maps; valid layers: {', '.join(valid)}")


def feature_summary(maps: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Per layer: shape, mean and spread of the activations, and the share of exact zeros (after ReLU)."""
    rows = []
    for name, output in maps.items():
        _, channels, height, width = output.shape
        rows.append(
            {
                "layer": name,
                "channels": channels,
                "height": height,
                "width": width,
                "mean": output.mean().item(),
                "std": output.std().item(),
                "fraction_zero": (output == 0).float().mean().item(),
            }
        )
    return pd.DataFrame(rows, columns=["layer", "channels", "height", "width", "mean", "std", "fraction_zero"])


@dataclass
class FilterProbe:
    """The numbers behind the filter figures (NumPy arrays, ready to draw or save)."""

    conv_name: str
    weight: np.ndarray  # out x in x k x k
    norms: np.ndarray
    chosen: list[int]
    images: np.ndarray  # uint8, N x 3 x H x W
    labels: list[str]
    responses: np.ndarray  # N x len(chosen) x H' x W'
    maps: dict[str, np.ndarray]
    summary: pd.DataFrame


def probe_filters(model: nn.Module, data: ImageData, options: FilterOptions) -> FilterProbe:
    """Compute the filters, their responses and the feature maps for ``options``' images and layers."""
    model = model.cpu().eval()
    images, labels = sample_images(data, options.images, options.seed)
    inputs = normalize(to_float(images), data.mean, data.std)
    check_layers(options.layers, map_layers(model, inputs))
    conv_name, conv = first_conv(model)
    chosen = choose_filters(conv.weight.detach(), options.filters, options.count)
    maps = layer_outputs(model, inputs, list(options.layers))
    return FilterProbe(
        conv_name=conv_name,
        weight=conv.weight.detach().numpy().copy(),
        norms=filter_norms(conv.weight.detach()).numpy(),
        chosen=chosen,
        images=images.numpy(),
        labels=[data.classes[int(label)] for label in labels],
        responses=filter_responses(conv, inputs, chosen).numpy(),
        maps={name: output.numpy() for name, output in maps.items()},
        summary=feature_summary(maps),
    )


@dataclass
class FiltersResult:
    probe: FilterProbe
    location: str
    files: list[str]
    run_label: str = ""  # the run, as figures title it


def run_filters(run: ProbeRun, options: FilterOptions = FilterOptions()) -> FiltersResult:
    """Load the run's checkpoint and data, compute, then write the figures and numbers to the run."""
    from cifarsweep.probes.filter_plots import feature_maps_figure, filter_grid_figure, responses_figure

    options.validate()
    name = CHECKPOINTS[options.checkpoint]
    model = run.model(run.checkpoint(name), name)
    head = cast(torch.nn.Linear, model.head)  # the CIFAR ResNet's classifier
    probe = probe_filters(model, run.data(head.out_features), options)
    output = run.output("filters")
    title = f"{options.checkpoint} weights: {run.label}"
    output.save_figure(filter_grid_figure(probe.weight, probe.norms, probe.chosen, title), "first_conv_filters.png")
    output.save_arrays("first_conv_filters.npz", {"weight": probe.weight, "norm": probe.norms})
    output.save_figure(
        responses_figure(probe.images, probe.responses, probe.chosen, probe.labels, title), "filter_responses.png"
    )
    output.save_arrays(
        "filter_responses.npz",
        {"images": probe.images, "filters": np.array(probe.chosen), "responses": probe.responses},
    )
    for layer, maps in probe.maps.items():
        figure = feature_maps_figure(layer, maps, probe.images, probe.labels, options.channels, title)
        output.save_figure(figure, f"feature_maps_{layer}.png")
    output.save_arrays("feature_maps.npz", probe.maps)
    output.save_frame(probe.summary, "feature_maps.csv")
    return FiltersResult(probe, output.publish(), list(output.written), run.label)
