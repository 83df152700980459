"""COCOB-Backprop: coin-betting steps, no learning rate."""

TFA_NAME = "COCOB"
PORT = "cocob"
KIND = "optimizer"
SLOT_MAP = {}
# No sparse case: tfa's COCOB raised NotImplementedError on IndexedSlices gradients (the port
# updates the touched rows; tests/addons/test_cocob.py). No legacy `decay` case: tfa accepted
# `decay` (and `lr`), ignored it and left it out of its config.
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 12},
    {"id": "alpha_10", "kwargs": {"alpha": 10.0}, "problem": "dense", "steps": 15},
    {"id": "alpha_1", "kwargs": {"alpha": 1.0}, "problem": "dense", "steps": 10},
]
