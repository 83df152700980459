"""MovingAverage: average <- average - (average - var) * (1 - decay) after the inner update,
the average starting from the initial weights.

decay at 0-based iteration i: 0 while i < start_step (the average copies the weights), else
min(average_decay, (1 + i - start_step) / (10 + i - start_step)) with dynamic_decay, else
average_decay. num_updates = n lowers average_decay once, at construction, to
min(average_decay, (1 + n) / (10 + n)); tfa's config then holds that lowered value.
"""

TFA_NAME = "MovingAverage"
PORT = "MovingAverage"
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
        "steps": 10,
    },
    {
        "id": "adam_decay09",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
        "kwargs": {"average_decay": 0.9},
        "problem": "dense",
        "steps": 8,
        **ADAM_TOLERANCE,
    },
    {
        "id": "adam_num_updates",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
        "kwargs": {"num_updates": 20},  # decay min(0.99, 21 / 30) = 0.7
        "problem": "dense",
        "steps": 8,
        **ADAM_TOLERANCE,
    },
    {
        "id": "sgd_momentum_start_step",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}},
        "kwargs": {"average_decay": 0.8, "start_step": 4},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "adam_dynamic_decay",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.02}},
        "kwargs": {"average_decay": 0.5, "dynamic_decay": True},  # caps at step 8: 9/18
        "problem": "dense",
        "steps": 12,
        **ADAM_TOLERANCE,
    },
    {
        "id": "sgd_all_options",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.5}},
        "kwargs": {
            "average_decay": 0.95, "num_updates": 5, "start_step": 3, "dynamic_decay": True,
        },  # average_decay becomes min(0.95, 6 / 15) = 0.4, reached 3 steps after start_step
        "problem": "dense",
        "steps": 14,
    },
    {
        "id": "sparse_adam_start_step",
        "inner": {"class_name": "Adam", "config": {"learning_rate": 0.05}},
        "kwargs": {"average_decay": 0.9, "start_step": 2},
        "problem": "sparse",
        "steps": 7,
        **ADAM_TOLERANCE,
    },
    {  # Keras 2's time decay: lr / (1 + decay * iterations), iterations shared with the wrapper
        "id": "sgd_momentum_legacy_decay",
        "inner": {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9, "decay": 0.1}},
        "kwargs": {"average_decay": 0.9},
        "problem": "dense",
        "steps": 10,
    },
]
