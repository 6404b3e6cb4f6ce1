"""Error types that map onto the CLI's exit codes.

``UserError`` is bad input (a spec, an option, a missing file): the CLI prints
its one-line message and exits with 2, before anything is written to a store.
Everything else is a runtime failure (exit 1).
"""


class UserError(Exception):
    """Bad input from the user; the message is one line that names the key or path."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class SpecError(UserError):
    """A sweep spec (a file or a dict given to ``cifarsweep.run``) is invalid.

    ``key_path`` is where the problem is, e.g. ``("sweep", "params", "lr", 0)``;
    empty when the problem is not under one key.
    """

    def __init__(self, message: str, key_path: tuple = ()):
        super().__init__(message)
        self.key_path = tuple(key_path)


class DataNotFoundError(UserError):
    """A data set is neither on disk nor downloadable."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, batch: int, value: float):
        super().__init__(f"loss is {value} at epoch {epoch}, batch {batch}: training diverged")
        self.epoch = epoch
        self.batch = batch
        self.value = value


class Interrupted(BaseException):
    """SIGTERM (Slurm preemption, eviction, ``kill``): stop the trial, keep its checkpoint, resume later.

    A ``BaseException`` like ``KeyboardInterrupt``, so that no ``except Exception``
    on the way up takes it for a failure. The CLI exits with 128 + ``signum``.
    """

    def __init__(self, signum: int = 15):
        super().__init__(f"signal {signum}")
        self.signum = signum
