"""The one training engine (every knob is a field of the run's setting)."""
from spurcomp.train.engine import RunStatus, train_run

__all__ = ["RunStatus", "train_run"]
