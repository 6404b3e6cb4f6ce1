"""Packed trials (``sweep.pack: K``): a worker claims up to K trials and trains those that can
share a model shape together (``trainer.packed``), each still its own Optuna trial and MLflow run.

Every member goes through the same steps as a trial alone (``trial.TrialRun``:
open, resume, train, then ``settle``), so exactly-once, retries, resume from
checkpoints and reconcile hold as they do for one trial per process: a member's
run, checkpoints and Optuna trial are its own, only the training steps are fused.
Claimed trials that cannot share a pack (another batch size, model, data set,
precision...) train in packs of their own, one after the other, their heartbeats
going meanwhile.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import optuna

from cifarsweep.config.training import TrainConfig
from cifarsweep.data import ImageData
from cifarsweep.errors import Interrupted, UserError
from cifarsweep.runs.figures import FigureChoice
from cifarsweep.runs.tracked import train_pack_in_runs
from cifarsweep.stores.retry import StoreUnavailable, with_retries
from cifarsweep.sweep.spec import SweepSpec
from cifarsweep.sweep.study import Sweep
from cifarsweep.sweep.trial import TrialOutcome, TrialRun, give_back, settle
from cifarsweep.tracking import schema
from cifarsweep.trainer.packed import pack_key
from cifarsweep.trainer.results import EpochReport, Progress, TrainResult

T = TypeVar("T")
logger = logging.getLogger("cifarsweep.sweep")
# What stops a whole pack, not one member: every member is given back to resume (a signal),
# or left to be retried elsewhere (a store that stays away).
PACK_FATAL = (StoreUnavailable,)


def group_into_packs(items: Sequence[T], key: Callable[[T], Hashable | None]) -> list[list[T]]:
    """``items`` (claimed together, in claim order) as packs: those with equal keys together, in
    order of first appearance; an item whose key is None alone."""
    packs: dict[Hashable, list[T]] = {}
    alone: list[list[T]] = []
    order: list[list[T]] = []
    for item in items:
        found = key(item)
        if found is None:
            alone.append([item])
            order.append(alone[-1])
        elif found in packs:
            packs[found].append(item)
        else:
            packs[found] = [item]
            order.append(packs[found])
    return order


def planned_packs(spec: SweepSpec, configs: Sequence[TrainConfig]) -> list[int]:
    """For ``--dry-run``: the pack number (from 1) each of ``configs`` (the trials left to run, in
    queue order) trains in, as a worker claims them ``sweep.pack`` at a time."""
    size = spec.sweep.pack if isinstance(spec.sweep.pack, int) else 1
    numbers: list[int] = [0] * len(configs)
    pack = 0
    for start in range(0, len(configs), size):
        chunk = list(range(start, min(start + size, len(configs))))
        for group in group_into_packs(chunk, lambda index: pack_key(configs[index])):
            pack += 1
            for index in group:
                numbers[index] = pack
    return numbers


def run_pack(
    sweep: Sweep,
    trials: list[optuna.Trial],
    progress: Progress | None,
    data_loader: Callable[[TrainConfig], ImageData],
    device: str | None,
    on_epoch: Callable[[optuna.Trial, EpochReport], None] | None,
    figures: Callable[[float], FigureChoice],
) -> list[TrialOutcome]:
    """Train claimed trials in packs and record each one's outcome, as ``run_trial`` does for one.

    ``progress`` follows the first member of each pack. What stops the worker (a signal, Ctrl-C,
    missing data, a local disk error) gives every claimed trial not yet recorded back to resume,
    and propagates; a store that stays away leaves them to ``reconcile``, as for one trial.
    """
    outcomes: list[TrialOutcome] = []
    attempts: list[TrialRun] = []
    unsettled = list(trials)
    opening: optuna.Trial | None = None
    try:
        for trial in trials:
            opening = trial
            attempt = TrialRun(sweep, trial, None, data_loader, device, on_epoch, figures)
            attempt.open()
            opening = None
            attempts.append(attempt)
            if (restarted := attempt.resume()) is not None:
                outcomes.append(restarted)
                unsettled.remove(trial)
                attempts.remove(attempt)
        for pack in group_into_packs(attempts, lambda attempt: pack_key(attempt.cfg)):
            pack[0].progress = progress
            if len(pack) > 1:
                _tag_members(pack)
            ended = _train(pack)
            for attempt, end in zip(pack, ended, strict=True):
                unsettled.remove(attempt.trial)
                outcomes.append(settle(attempt, end))
    except BaseException as exc:
        if opening is not None and isinstance(exc, UserError):
            unsettled.remove(opening)  # its data is missing: open() gave it back already
        if not isinstance(exc, StoreUnavailable):  # else nothing can be written: reconcile retries them
            _give_back(sweep, attempts, unsettled)
        raise
    return outcomes


def _give_back(sweep: Sweep, attempts: list[TrialRun], unsettled: list[optuna.Trial]) -> None:
    """The worker stops (a signal, Ctrl-C, missing data, a full disk): queue every claimed trial
    not recorded yet to resume, closing the runs of those already opened."""
    opened = {id(attempt.trial): attempt for attempt in attempts}
    for trial in unsettled:
        if id(trial) in opened:
            opened[id(trial)].interrupted()
        else:
            give_back(sweep, trial, "interrupted")


def _tag_members(pack: list[TrialRun]) -> None:
    members = ",".join(str(attempt.trial.number) for attempt in pack)
    for attempt in pack:
        tag = functools.partial(attempt.recorder.set_tags, {schema.TAG_PACKED_WITH: members})
        with_retries(tag, "tag the pack")


def _train(pack: list[TrialRun]) -> list[TrainResult | BaseException]:
    """Each attempt's result or what stopped it (a prune, a divergence, a lost trial...); a signal or
    a store that stays away propagates."""
    if len(pack) == 1:
        try:
            return [pack[0].train()]
        except (Interrupted, KeyboardInterrupt, *PACK_FATAL):
            raise
        except Exception as exc:
            return [exc]
    try:
        return train_pack_in_runs([attempt.training() for attempt in pack], pack[0].data, fatal=PACK_FATAL)
    except (Interrupted, KeyboardInterrupt, *PACK_FATAL):
        raise
    except Exception as exc:  # the fused step itself failed (out of memory, say): every member fails with it
        return [exc] * len(pack)


def resolve_pack_size(spec: SweepSpec, device: str | None = None) -> int:
    """``sweep.pack`` as a number: itself, or for ``auto`` what ``trainer.packed.choose_pack_size``
    measures for the sweep's first trial shape on the worker's device (a few seconds)."""
    if spec.sweep.pack != "auto":
        return int(spec.sweep.pack)
    from cifarsweep.sweep.estimate import data_size, trial_configs
    from cifarsweep.trainer.packed import choose_pack_size

    configs = trial_configs(spec)
    if not configs:
        return 1
    cfg = configs[0][1]
    if device:
        cfg = cfg.model_copy(update={"device": device})
    size = data_size(cfg)
    chosen, rates = choose_pack_size(cfg, size.classes, size.image_size)
    measured = ", ".join(f"K={k} {rate:.2f}" for k, rate in rates.items())
    logger.info("sweep.pack auto: %d (members' steps per second: %s)", chosen, measured or "not packable")
    return chosen
