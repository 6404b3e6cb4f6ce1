"""`sweep.sampler`: options checked against each Optuna sampler's signature; a warning when TPE never leaves its start-up."""

import inspect

import optuna
import pytest

from cifarsweep.errors import UserError
from cifarsweep.sweep.sampler_options import SAMPLER_OPTIONS, STARTUP_DEFAULTS
from cifarsweep.sweep.spec import spec_from_dict
from cifarsweep.sweep.study import build_sampler
from tests.support import TINY

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "qmc": optuna.samplers.QMCSampler,
    "random": optuna.samplers.RandomSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}


def search(kind: str = "tpe", n_trials: int = 8, **sampler) -> dict:
    sweep = {"kind": kind, "n_trials": n_trials, "params": {"lr": {"low": 0.001, "high": 0.1, "log": True}}}
    if sampler:
        sweep["sampler"] = sampler
    return {"name": "s", "base": TINY, "sweep": sweep}


@pytest.mark.parametrize("kind", SAMPLERS)
def test_every_offered_option_is_a_parameter_of_the_sampler(kind):
    parameters = inspect.signature(SAMPLERS[kind].__init__).parameters
    assert set(SAMPLER_OPTIONS[kind]) <= set(parameters) - {"seed", "self"}
    if kind in STARTUP_DEFAULTS:
        assert parameters["n_startup_trials"].default == STARTUP_DEFAULTS[kind]


def test_options_reach_the_sampler():
    spec = spec_from_dict(search(n_trials=20, n_startup_trials=3, multivariate=True))
    sampler = build_sampler(spec)
    assert isinstance(sampler, optuna.samplers.TPESampler) and sampler._n_startup_trials == 3
    assert spec.warnings() == []


@pytest.mark.parametrize(
    "kind, options, fragment",
    [
        ("tpe", {"n_startup_trial": 3}, "sweep.sampler.n_startup_trial"),
        ("tpe", {"n_startup_trials": -1}, "sweep.sampler.n_startup_trials"),
        ("tpe", {"multivariate": "yes"}, "sweep.sampler.multivariate"),
        ("qmc", {"qmc_type": "lattice"}, "sweep.sampler.qmc_type"),
        ("random", {"n_startup_trials": 3}, "sweep.sampler.n_startup_trials"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(kind, options, fragment):
    with pytest.raises(UserError, match=fragment.replace(".", r"\.")) as error:
        spec_from_dict(search(kind, 20, **options))
    assert "\n" not in str(error.value)


def test_tpe_warns_when_every_trial_is_a_startup_trial():
    (warning,) = spec_from_dict(search(n_trials=8)).warnings()
    assert "n_trials (8)" in warning and "n_startup_trials (10)" in warning
    assert spec_from_dict(search(n_trials=8, n_startup_trials=4)).warnings() == []
    assert spec_from_dict(search(kind="random", n_trials=8)).warnings() == []
