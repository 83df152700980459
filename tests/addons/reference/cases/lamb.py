"""tfa's LAMB, not ported: Keras 3 has `keras.optimizers.Lamb`. The data measures how close it is.

tests/addons/test_keras_equivalents.py replays these trajectories with Keras's Lamb and checks
the differences docs/tfa.md states.
"""

TFA_NAME = "LAMB"
PORT = "keras.optimizers.Lamb"
KIND = "keras_equivalent"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 12},
    {
        "id": "hyperparameters",
        "kwargs": {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "weight_decay",
        "kwargs": {"learning_rate": 0.01, "weight_decay": 0.1},
        "problem": "dense",
        "steps": 12,
    },
]
