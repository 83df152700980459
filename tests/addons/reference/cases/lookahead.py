"""Lookahead: k fast steps of the inner optimizer, then slow <- slow + a * (fast - slow), fast <- slow.

tfa syncs when (iterations + 1) is a multiple of sync_period, inside the step, after the inner
update; the slow weights start as the initial weights. The inner optimizer shares the wrapper's
iteration counter.
"""

TFA_NAME = "Lookahead"
PORT = "Lookahead"
KIND = "wrapper"
# tfa's (Keras 2 legacy) inner slot names -> Keras 3's, per inner class
INNER_SLOT_MAP = {
    "Adam": {"m": "momentum", "v": "velocity"},
    "SGD": {},
    "RectifiedAdam": {},
}
# Keras 3's Adam takes 1 - beta_2 in Python (float32(0.001) = 0.0010000000475), Keras 2's legacy
# kernel in float32 (1 - float32(0.999) = 0.00099998713): v moves at a rate 1.29e-5 apart (1 - beta_1:
# 2.4e-7). Keras 3's Adam alone, wrapped by a float32 NumPy copy of the wrapper rules, measured on
# TF/JAX/torch over every Adam case here: 3.0e-6 abs at most (v), variables 2.4e-6 abs (1.3e-4 rel
# near zero); with rtol 1e-6 / atol 1e-7 each fails. A wrapper or decay mistake moves weights >= 1e-3.
ADAM_TOLERANCE = {"rtol": 2e-5, "atol": 3e-6}
CASES = [
    {
        "id": "adam_defaults",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
        "kwargs": {},
        "problem": "dense",
        "steps": 13,  # syncs after steps 6 and 12
        **ADAM_TOLERANCE,
    },
    {
        "id": "sgd_momentum_sync3_step08",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}},
        "kwargs": {"sync_period": 3, "slow_step_size": 0.8},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "sgd_sync_every_step",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.1}},
        "kwargs": {"sync_period": 1, "slow_step_size": 0.25},
        "problem": "dense",
        "steps": 8,
    },
    {  # "Ranger": Lookahead around RectifiedAdam, both at their defaults
        "id": "radam_defaults",
        "inner": {"class_name": "RectifiedAdam", "config": {"learning_rate": 0.01}},
        "kwargs": {},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "radam_warmup_sync4",
        "inner": {
            "class_name": "RectifiedAdam",
            "config": {
                "learning_rate": 0.05, "total_steps": 16, "warmup_proportion": 0.25,
                "min_lr": 1e-3, "beta_2": 0.99,
            },
        },
        "kwargs": {"sync_period": 4, "slow_step_size": 0.3},
        "problem": "dense",
        "steps": 18,
    },
    {
        "id": "sparse_adam_sync2",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.05}},
        "kwargs": {"sync_period": 2, "slow_step_size": 0.5},
        "problem": "sparse",
        "steps": 8,
        **ADAM_TOLERANCE,
    },
    {  # tfa's config holds Keras 2's schedule config ("name": null inside)
        "id": "sgd_momentum_schedule",
        "inner": {
            "class_name": "SGD",
            "config": {
                "learning_rate": {
                    "class_name": "PiecewiseConstantDecay",
                    "config": {"boundaries": [4], "values": [0.1, 0.02]},
                },
                "momentum": 0.5,
            },
        },
        "kwargs": {"sync_period": 3},
        "problem": "dense",
        "steps": 9,
    },
]
