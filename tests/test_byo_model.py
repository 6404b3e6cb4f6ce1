"""Bring your own model: ``package.module:factory`` and ``timm:<name>``, checked before anything is written."""

from __future__ import annotations

import pytest

import cifarsweep
from cifarsweep.config.training import TrainConfig
from cifarsweep.errors import UserError
from cifarsweep.trainer.models import build_model
from tests.support import TINY, files_under

FACTORY = "tests.support.tiny_model:tiny_cnn"


def spec(model: str, name: str = "byo") -> dict:
    return {
        "name": name,
        "base": {**TINY, "model": model, "epochs": 1},
        "sweep": {"kind": "grid", "params": {"lr": [0.01]}, "seeds": [0]},
    }


def test_a_factory_gets_num_classes_and_width():
    model = build_model(FACTORY, num_classes=7, width=4)
    assert model[0].out_channels == 4 and model[-1].out_features == 7


def test_a_timm_model_is_built_from_scratch_with_num_classes():
    model = build_model("timm:test_resnet", num_classes=5, width=8)
    assert model.get_classifier().out_features == 5
    assert model.pretrained_cfg is not None  # a timm model; weights are its random initialisation


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("tests.support.nowhere:net", "cannot import tests.support.nowhere"),
        ("tests.support.tiny_model:missing", "has no attribute 'missing'"),
        ("tests.support.tiny_model:NOT_CALLABLE", "is not callable"),
        ("tests.support.tiny_model:no_classes", "must take a num_classes argument"),
        ("timm:no_such_net", "timm has no architecture 'no_such_net'"),
        ("resnet19", "unknown model 'resnet19'"),
    ],
)
def test_a_bad_model_fails_the_spec_before_anything_is_written(empty_workdir, model, message):
    with pytest.raises(cifarsweep.SpecError) as caught:
        cifarsweep.run(spec(model))
    assert caught.value.key_path == ("base", "model")
    assert message in str(caught.value) and "base.model" in str(caught.value)
    assert files_under(empty_workdir) == {}


def test_the_config_refuses_a_bad_factory_with_one_line():
    with pytest.raises(UserError, match=r"^model: .*cannot import"):
        from cifarsweep.config.training import build_config

        build_config({"model": "nowhere_at_all:net"})
    assert TrainConfig(model=FACTORY).model == FACTORY


@pytest.mark.slow
@pytest.mark.parametrize("model", [FACTORY, "timm:test_resnet"])
def test_a_sweep_of_a_users_model_completes(workdir, model):
    results = cifarsweep.run(spec(model))
    assert list(results.trials["state"]) == ["COMPLETE"]
    assert results.trials["params.model"].iloc[0] == model
    assert results.history[results.history["metric"] == "val_acc"]["epoch"].tolist() == [1]
