"""Callbacks that watch an optimizer's state during `fit`, for any Keras optimizer."""

from kerasopt_plugins.callbacks.average_model_checkpoint import AverageModelCheckpoint
from kerasopt_plugins.callbacks._slots import SlotGroup, find_slots, levels, slot_groups, unwrap
from kerasopt_plugins.callbacks.iteration_logger import IterationLogger
from kerasopt_plugins.callbacks.learning_rate_logger import LearningRateLogger
from kerasopt_plugins.callbacks.slot_logger import STATISTICS, SlotLogger

__all__ = [
    "AverageModelCheckpoint",
    "IterationLogger",
    "LearningRateLogger",
    "STATISTICS",
    "SlotGroup",
    "SlotLogger",
    "find_slots",
    "levels",
    "slot_groups",
    "unwrap",
]
