"""What ``cifarsweep dashboard`` serves: the sweep's Optuna storage, checked, and its study's page."""

from __future__ import annotations

from dataclasses import dataclass

from cifarsweep.errors import UserError
from cifarsweep.stores.optuna_storage import open_storage, resolve_storage_url, storage_exists
from cifarsweep.stores.urls import mask_password


@dataclass(frozen=True)
class DashboardTarget:
    storage_url: str
    study_name: str
    study_id: int

    @property
    def path(self) -> str:
        """The study's page under optuna-dashboard's root."""
        return f"/dashboard/studies/{self.study_id}"


def dashboard_target(name: str | None, storage: str | None) -> DashboardTarget:
    """The storage and the study of sweep ``name`` (None: the most recent); a ``UserError`` if either is missing."""
    import optuna

    from cifarsweep.sweep.run import most_recent_sweep

    url = resolve_storage_url(storage)
    if not storage_exists(url):
        raise UserError(f"no sweeps yet: {mask_password(url)} does not exist (run `cifarsweep run SPEC.yaml` first)")
    opened = open_storage(url)
    study_name = name or most_recent_sweep(opened)
    try:
        study_id = opened.get_study_id_from_name(study_name)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False)]
        raise UserError(f"no sweep named {study_name!r} (sweeps: {', '.join(names) or 'none'})") from None
    return DashboardTarget(url, study_name, study_id)
