"""Callbacks that watch an optimizer's state during `fit`, for any Keras optimizer."""

from kerasopt_plugins.callbacks._slots import find_slots, unwrap
from kerasopt_plugins.callbacks.iteration_logger import IterationLogger
from kerasopt_plugins.callbacks.learning_rate_logger import LearningRateLogger
from kerasopt_plugins.callbacks.slot_logger import STATISTICS, SlotLogger

__all__ = ["IterationLogger", "LearningRateLogger", "STATISTICS", "SlotLogger", "find_slots", "unwrap"]
