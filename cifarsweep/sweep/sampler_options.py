"""The Optuna sampler options a spec may set under ``sweep.sampler``, per kind (no Optuna import here).

Only plain-valued keyword arguments of each sampler's constructor are offered
(``tests/test_sampler_options.py`` checks every name and default against
Optuna's own signatures); ``seed`` has its own key, ``sweep.seed``.
"""

from __future__ import annotations

from typing import Any

# kind -> option -> what its value must be: bool, "int>=0", "int>=1", "int>=2", "float>0", "probability"
# (a number from 0 to 1) or a tuple of words.
SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {
    "grid": {},
    "random": {},
    "tpe": {
        "n_startup_trials": "int>=0",
        "n_ei_candidates": "int>=1",
        "multivariate": bool,
        "group": bool,
        "constant_liar": bool,
        "consider_endpoints": bool,
        "prior_weight": "float>0",
        "warn_independent_sampling": bool,
    },
    "cmaes": {
        "n_startup_trials": "int>=0",
        "sigma0": "float>0",
        "popsize": "int>=1",
        "use_separable_cma": bool,
        "with_margin": bool,
        "lr_adapt": bool,
        "consider_pruned_trials": bool,
        "warn_independent_sampling": bool,
    },
    "qmc": {
        "qmc_type": ("sobol", "halton"),
        "scramble": bool,
        "warn_independent_sampling": bool,
    },
    "nsga2": {
        "population_size": "int>=2",
        "mutation_prob": "probability",
        "crossover_prob": "probability",
        "swapping_prob": "probability",
    },
}

# Optuna's defaults for the samplers' random start-up phase (trials sampled independently at random).
STARTUP_DEFAULTS = {"tpe": 10, "cmaes": 1}


def check_option(kind: str, name: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for option ``name`` of sampler ``kind``; None when it is."""
    options = SAMPLER_OPTIONS.get(kind, {})
    if name not in options:
        known = ", ".join(options) if options else "none"
        return f"not an option of the {kind} sampler (options: {known})"
    rule = options[name]
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if rule is bool and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if rule == "int>=0" and not (is_int and value >= 0):
        return f"expected an integer >= 0, got {value!r}"
    if rule == "int>=1" and not (is_int and value >= 1):
        return f"expected an integer >= 1, got {value!r}"
    if rule == "int>=2" and not (is_int and value >= 2):
        return f"expected an integer >= 2, got {value!r}"
    if rule == "probability" and not ((is_int or isinstance(value, float)) and 0 <= value <= 1):
        return f"expected a probability from 0 to 1, got {value!r}"
    if rule == "float>0" and not ((is_int or isinstance(value, float)) and value > 0):
        return f"expected a number > 0, got {value!r}"
    if isinstance(rule, tuple) and value not in rule:
        return f"expected one of {', '.join(rule)}, got {value!r}"
    return None


def startup_warning(kind: str, n_trials: int | None, options: dict[str, Any]) -> str | None:
    """A warning when every trial would fall in the sampler's random start-up phase."""
    if kind not in STARTUP_DEFAULTS or n_trials is None:
        return None
    startup = options.get("n_startup_trials", STARTUP_DEFAULTS[kind])
    if n_trials > startup:
        return None
    return (
        f"sweep.n_trials ({n_trials}) does not exceed the {kind} sampler's n_startup_trials ({startup}): "
        "every trial is sampled at random; raise n_trials or set sweep.sampler.n_startup_trials"
    )
