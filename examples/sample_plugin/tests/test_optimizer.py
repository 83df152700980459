"""The kerasopt_plugins conformance kit on QHM: `pip install -e .[test]`, then `pytest`."""

import numpy as np

from kerasopt_plugins.testing import OptimizerContract
from kerasopt_sample_plugin.optimizer import QHM


def rule_in_numpy(params, grads, step, state):
    """The rule in NumPy, for the example config (learning_rate=0.1, momentum=0.9, nu=0.7)."""
    if step == 0:
        state["m"] = [np.zeros_like(p) for p in params]
    state["m"] = [0.9 * m + 0.1 * g for m, g in zip(state["m"], grads)]
    return [p - 0.1 * (0.3 * g + 0.7 * m) for p, g, m in zip(params, grads, state["m"])]


class TestQHM(OptimizerContract):
    optimizer = QHM
    modules = ["kerasopt_sample_plugin"]  # all a user imports before load_model
    reference = rule_in_numpy
    invalid_configs = [
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"nu": 1.5}, r"nu must be in \[0, 1\]"),
    ]
