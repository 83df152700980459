"""Yogi: Adam's second moment replaced by an additive, sign-controlled update; l1/l2 prox step."""

TFA_NAME = "Yogi"
PORT = "yogi"
KIND = "optimizer"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 10},
    {
        "id": "tanh_nondefault",
        "kwargs": {
            "learning_rate": 0.05, "beta1": 0.5, "beta2": 0.99, "epsilon": 1e-4,
            "initial_accumulator_value": 0.5, "activation": "tanh",
        },
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "l1_l2",
        "kwargs": {
            "learning_rate": 0.1, "l1_regularization_strength": 0.1,
            "l2_regularization_strength": 0.05,
        },
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "l2_only",
        "kwargs": {"learning_rate": 0.05, "l2_regularization_strength": 0.2},
        "problem": "dense",
        "steps": 10,
    },
    {
        # no first moment: tfa creates no slot `m` and steps along the gradient itself
        "id": "beta1_zero_l1",
        "kwargs": {
            "learning_rate": 0.05, "beta1": 0.0, "l1_regularization_strength": 0.3,
            "activation": "tanh", "initial_accumulator_value": 0.0,
        },
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "legacy_decay",
        "kwargs": {"learning_rate": 0.05, "decay": 0.1},
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "schedule",
        "kwargs": {
            "learning_rate": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.5},
            },
        },
        "problem": "dense",
        "steps": 10,
    },
    {"id": "sparse", "kwargs": {"learning_rate": 0.05}, "problem": "sparse", "steps": 10},
    {
        "id": "sparse_l1",
        "kwargs": {"learning_rate": 0.1, "l1_regularization_strength": 0.1},
        "problem": "sparse",
        "steps": 10,
    },
    {
        "id": "sparse_beta1_zero_l1_l2",
        "kwargs": {
            "learning_rate": 0.05, "beta1": 0.0, "l1_regularization_strength": 0.3,
            "l2_regularization_strength": 0.1,
        },
        "problem": "sparse",
        "steps": 10,
    },
    {
        "id": "sparse_l2_tanh",
        "kwargs": {"learning_rate": 0.05, "l2_regularization_strength": 0.1, "activation": "tanh"},
        "problem": "sparse",
        "steps": 10,
    },
]
