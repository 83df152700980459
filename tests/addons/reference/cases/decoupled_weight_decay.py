"""extend_with_decoupled_weight_decay(Optimizer): w <- w - wd * w before the inner step (wd not
scaled by the learning rate; a schedule is evaluated at the 0-based iteration).

exclude_from_weight_decay is a list of regexes searched in the variable's name, which in tfa
(Keras 2) carries ":0" ("bias:0"). With sparse gradients tfa decays only the touched rows.
"""

TFA_NAME = "extend_with_decoupled_weight_decay"
PORT = "extend_with_decoupled_weight_decay"
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
        "id": "sgd_momentum",
        "inner": {"class_name": "SGD"},
        "kwargs": {"weight_decay": 0.01, "learning_rate": 0.05, "momentum": 0.9},
        "problem": "dense",
        "steps": 10,
        # exact on TensorFlow and JAX; on torch Keras's SGD adds -lr * g into the momentum with
        # torch._foreach_add_(alpha=...), one rounding where Keras 2 had two: filters[1,1,0]
        # ends 3.6e-7 abs / 1.9e-6 rel off after 10 steps (Keras's torch SGD alone: 1.4e-6)
        "rtol": 4e-6,
    },
    {
        "id": "adam_number",
        "inner": {"class_name": "Adam"},
        "kwargs": {"weight_decay": 0.02, "learning_rate": 0.01},
        "problem": "dense",
        "steps": 10,
        **ADAM_TOLERANCE,
    },
    {
        "id": "adam_schedules_exclusions",
        "inner": {"class_name": "Adam"},
        "kwargs": {
            "weight_decay": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.5},
            },
            "learning_rate": {
                "class_name": "PiecewiseConstantDecay",
                "config": {"boundaries": [5], "values": [0.02, 0.005]},
            },
            "beta_1": 0.8,
            "exclude_from_weight_decay": ["bias", "filt"],
        },
        "problem": "dense",
        "steps": 12,
        **ADAM_TOLERANCE,
    },
    {
        "id": "sgd_nesterov_schedule_exclude_kernel",
        "inner": {"class_name": "SGD"},
        "kwargs": {
            "weight_decay": {
                "class_name": "PiecewiseConstantDecay",
                "config": {"boundaries": [4], "values": [0.05, 0.01]},
            },
            "learning_rate": 0.1,
            "momentum": 0.5,
            "nesterov": True,
            "exclude_from_weight_decay": ["kern"],
        },
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "sparse_adam",
        "inner": {"class_name": "Adam"},
        "kwargs": {"weight_decay": 0.05, "learning_rate": 0.01},
        "problem": "sparse",
        "steps": 8,
        **ADAM_TOLERANCE,
    },
    {  # Keras 2's time decay in the extended class's own config: lr / (1 + decay * iterations)
        "id": "sgd_legacy_decay",
        "inner": {"class_name": "SGD"},
        "kwargs": {"weight_decay": 0.02, "learning_rate": 0.1, "momentum": 0.5, "decay": 0.2},
        "problem": "dense",
        "steps": 8,
    },
]
