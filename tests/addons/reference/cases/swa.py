"""SWA: the average starts at zero; at 0-based iteration start_averaging + k * average_period
(k = 0, 1, ...) it becomes (average * k + var) / (k + 1), after the inner update."""

TFA_NAME = "SWA"
PORT = "SWA"
KIND = "wrapper"
INNER_SLOT_MAP = {
    "Adam": {"m": "momentum", "v": "velocity"},
    "SGD": {},
}
# Keras 3's Adam takes 1 - beta_2 in Python (float32(0.001) = 0.0010000000475), Keras 2's legacy
# kernel in float32 (1 - float32(0.999) = 0.00099998713): v moves at a rate 1.29e-5 apart (1 - beta_1:
# 2.4e-7). Keras 3's Adam alone, wrapped by a float32 NumPy copy of the wrapper rules, measured on
# TF/JAX/torch over every Adam case here: 3.0e-6 abs at most (v), variables 2.4e-6 abs (1.3e-4 rel
# near zero); with rtol 1e-6 / atol 1e-7 each fails. A wrapper or decay mistake moves weights >= 1e-3.
ADAM_TOLERANCE = {"rtol": 2e-5, "atol": 3e-6}
CASES = [
    {
        "id": "sgd_defaults",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.1}},
        "kwargs": {},
        "problem": "dense",
        "steps": 22,  # snapshots at iterations 0, 10, 20
    },
    {
        "id": "sgd_momentum_start3_period2",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}},
        "kwargs": {"start_averaging": 3, "average_period": 2},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "adam_start0_period1",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
        "kwargs": {"start_averaging": 0, "average_period": 1},
        "problem": "dense",
        "steps": 10,
        **ADAM_TOLERANCE,
    },
    {
        "id": "adam_start4_period3",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.02, "beta_1": 0.8}},
        "kwargs": {"start_averaging": 4, "average_period": 3},
        "problem": "dense",
        "steps": 15,  # snapshots at iterations 4, 7, 10, 13
        **ADAM_TOLERANCE,
    },
    {
        "id": "sgd_start5_period1",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.5, "nesterov": True}},
        "kwargs": {"start_averaging": 5, "average_period": 1},
        "problem": "dense",
        "steps": 9,
    },
    {
        "id": "sparse_adam_start1_period2",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.05}},
        "kwargs": {"start_averaging": 1, "average_period": 2},
        "problem": "sparse",
        "steps": 9,
        **ADAM_TOLERANCE,
    },
    {  # tfa's config holds Keras 2's schedule config ("name": null inside)
        "id": "adam_schedule_start2_period3",
        "inner": {
            "class_name": "Adam",
            "config": {
                "learning_rate": {
                    "class_name": "ExponentialDecay",
                    "config": {"initial_learning_rate": 0.05, "decay_steps": 4, "decay_rate": 0.5},
                },
            },
        },
        "kwargs": {"start_averaging": 2, "average_period": 3},
        "problem": "dense",
        "steps": 9,
        **ADAM_TOLERANCE,
    },
]
