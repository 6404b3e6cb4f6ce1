"""Precision choice, tested against a stubbed GPU capability (no GPU needed)."""

import pytest
import torch

from cifarsweep.errors import UserError
from cifarsweep.trainer.device import resolve_precision


def emulated_bf16_only(including_emulation: bool = True) -> bool:
    """A V100/T4: torch says bf16 works, but only by emulation."""
    return including_emulation


@pytest.fixture
def pre_ampere(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", emulated_bf16_only)


def test_auto_picks_fp16_with_a_scaler_where_bf16_is_only_emulated(pre_ampere):
    precision = resolve_precision("auto", torch.device("cuda"))
    assert precision.name == "fp16" and precision.needs_scaler


def test_explicit_bf16_is_refused_where_it_is_only_emulated(pre_ampere):
    with pytest.raises(UserError, match="bf16"):
        resolve_precision("bf16", torch.device("cuda"))


def test_auto_picks_bf16_where_the_gpu_has_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_precision("auto", torch.device("cuda")).name == "bf16"


@pytest.mark.parametrize(
    ("fields", "device", "expected"),
    [
        ({}, "cpu", True),  # width 64
        ({"width": 8}, "cpu", True),
        ({"width": 4}, "cpu", False),  # oneDNN's channels-last 1x1 backward hangs under 8 channels
        ({"width": 4, "channels_last": True}, "cpu", True),  # asked for: honoured
        ({"channels_last": False}, "cuda", False),
        ({"width": 4}, "cuda", True),
        ({}, "mps", False),
    ],
)
def test_auto_memory_format_is_channels_last_where_it_pays_and_is_safe(fields, device, expected):
    from cifarsweep.config.training import TrainConfig
    from cifarsweep.trainer.device import channels_last_for

    assert channels_last_for(TrainConfig(**fields), torch.device(device)) is expected


def test_channels_last_reads_auto_and_booleans_from_yaml_values():
    from cifarsweep.config.training import TrainConfig

    assert TrainConfig().channels_last == "auto"
    assert TrainConfig(channels_last=True).channels_last is True
    with pytest.raises(ValueError, match="channels_last"):
        TrainConfig(channels_last="sometimes")
