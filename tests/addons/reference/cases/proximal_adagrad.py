"""ProximalAdagrad: Adagrad's step, then the l1/l2 proximal step (TF's fused kernels)."""

TFA_NAME = "ProximalAdagrad"
PORT = "proximal_adagrad"
KIND = "optimizer"
SLOT_MAP = {}
# No legacy `decay` case: tfa applied `decay` but its get_config dropped it, so a port built
# from tfa's config cannot know it (tests/addons/test_proximal_adagrad.py checks decay).
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 10},
    {
        "id": "rate_and_accumulator",
        "kwargs": {"learning_rate": 0.1, "initial_accumulator_value": 0.5},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "l1_l2",
        "kwargs": {
            "learning_rate": 0.2, "l1_regularization_strength": 0.3,
            "l2_regularization_strength": 0.1,
        },
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "l2_only",
        "kwargs": {"learning_rate": 0.1, "l2_regularization_strength": 0.5},
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "schedule",
        "kwargs": {
            "learning_rate": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.2, "decay_steps": 3, "decay_rate": 0.5},
            },
            "l1_regularization_strength": 0.05,
        },
        "problem": "dense",
        "steps": 10,
    },
    {"id": "sparse", "kwargs": {"learning_rate": 0.1}, "problem": "sparse", "steps": 10},
    {
        "id": "sparse_l1_l2",
        "kwargs": {
            "learning_rate": 0.2, "l1_regularization_strength": 0.3,
            "l2_regularization_strength": 0.1, "initial_accumulator_value": 0.01,
        },
        "problem": "sparse",
        "steps": 10,
    },
]
