"""The contract every registered optimizer keeps: the public kit (kerasopt_plugins.testing) run on
each of them, parametrized from the registry itself.

Each optimizer is made from its record's `example_config`, the small configuration its author
declared at registration to exercise its state; `constrained` and `sparse` (dense or lazy
updates from tf.IndexedSlices) come from the record too. The reload tests cover every optimizer
in one fresh process per backend: this one (the fresh-process reload) and each other installed one.
"""

from __future__ import annotations

import keras

from kerasopt_plugins import list_optimizers
from kerasopt_plugins.testing import OptimizerContract


def test_the_seed_optimizers_are_registered():
    assert {"vanilla_sgd", "momentum_sgd", "cmomentum_sgd"} <= set(list_optimizers())


class TestEveryRegisteredOptimizer(OptimizerContract):
    optimizer = list_optimizers()
    modules = ["kerasopt_plugins"]  # all a user imports before load_model
    # Each optimizer's NumPy reference is in its own test file (test_seed_optimizers.py,
    # tests/addons/), with the tfa trajectories; the kit's reference promise is for authors.
    # The backends promise (a file saved here trains on identically in a process of each other
    # backend) runs in the TensorFlow run only: it covers TensorFlow -> JAX and TensorFlow ->
    # torch; the JAX and torch runs would add the other direction (and JAX <-> torch) at a
    # process per backend, about a minute of CI. Each backend's own fresh-process reload stays.
    skip = ("reference",) + (() if keras.backend.backend() == "tensorflow" else ("backends",))
