"""Training: the loop, its config, state and checkpoints, optimizers and schedules, distributed
runs, evaluation, metrics and progress."""

from mobilenets.train.config import TrainConfig
from mobilenets.train.loop import FitResult, NonFiniteLossError, fit

__all__ = ["FitResult", "NonFiniteLossError", "TrainConfig", "fit"]
