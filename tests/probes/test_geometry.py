"""`cifarsweep conv-geometry` without a run: output sizes, edge filters, files, bad input."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from cifarsweep.probes.geometry import PADDINGS, STRIDES, ConvGeometryNet, edge_filters, output_size, size_table
from tests.support import files_under
from tests.support.cli import invoke


@pytest.mark.parametrize("height, width", [(32, 32), (31, 20), (7, 9)])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_output_sizes_equal_the_formula_for_every_stride_and_padding(height, width, kernel):
    net = ConvGeometryNet(edge_filters(kernel))
    outputs = net(torch.rand(1, 3, height, width))
    assert set(outputs) == {(s, p) for s in STRIDES for p in PADDINGS}
    for (stride, padding), output in outputs.items():
        expected = ((height + 2 * padding - kernel) // stride + 1, (width + 2 * padding - kernel) // stride + 1)
        assert tuple(output.shape[-2:]) == expected, (stride, padding)
        assert (output_size(height, kernel, stride, padding), output_size(width, kernel, stride, padding)) == expected
    table = size_table((height, width), kernel, outputs)
    assert len(table) == 9 and table["matches"].all()


def test_edge_filters_are_sobel_on_brightness():
    pair = edge_filters(3)
    assert pair.shape == (2, 3, 3, 3)
    sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 4
    assert torch.allclose(pair[0].sum(dim=0), sobel * (0.2989 + 0.587 + 0.114), atol=1e-6)
    assert torch.allclose(pair[1].sum(dim=0), pair[0].sum(dim=0).T)
    for kernel in (2, 3, 5):
        flat = torch.full((1, 3, 12, 12), 0.7)
        assert torch.allclose(torch.nn.functional.conv2d(flat, edge_filters(kernel)), torch.zeros(1), atol=1e-6)


def test_conv_geometry_writes_table_maps_and_figure_to_out(empty_workdir):
    result = invoke("conv-geometry", "--out", "geo", "--kernel", "5")
    assert result.exit_code == 0, result.output
    assert "stride" in result.stdout and "NO" not in result.stdout
    table = pd.read_csv(empty_workdir / "geo" / "sizes.csv")
    assert len(table) == 9 and table["matches"].all() and set(table["kernel"]) == {5}
    assert (table["output_height"] == (32 + 2 * table["padding"] - 5) // table["stride"] + 1).all()
    with np.load(empty_workdir / "geo" / "feature_maps.npz") as saved:
        assert saved["s3_p2"].shape == (11, 11) and saved["image"].shape == (3, 32, 32)
    assert (empty_workdir / "geo" / "feature_maps.png").stat().st_size > 10_000
    assert set(files_under(empty_workdir)) == {"geo/sizes.csv", "geo/feature_maps.npz", "geo/feature_maps.png"}


def test_conv_geometry_reads_an_image_file(empty_workdir):
    pixels = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(empty_workdir / "photo.png")
    result = invoke("conv-geometry", "--image", "photo.png", "--size", "24", "--out", "geo")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(empty_workdir / "geo" / "sizes.csv")
    assert set(table["input_height"]) == {24} and table["matches"].all()


@pytest.mark.parametrize(
    "args, named",
    [(["--kernel", "0"], "--kernel"), (["--kernel", "40"], "--kernel 40"), (["--image", "nowhere.png"], "nowhere.png")],
)
def test_bad_conv_geometry_input_exits_2_with_one_line(empty_workdir, args, named):
    result = invoke("conv-geometry", *args, "--out", "geo")
    assert result.exit_code == 2
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert files_under(empty_workdir) == {}
