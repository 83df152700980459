"""Callbacks and helpers that watch an optimizer's state during `fit`."""

from kerasopt_plugins.callbacks._slots import find_slots, unwrap

__all__ = ["find_slots", "unwrap"]
