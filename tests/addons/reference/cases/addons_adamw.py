"""tfa's AdamW: Keras 2's Adam with decoupled weight decay (w <- w - wd * w)."""

TFA_NAME = "AdamW"
PORT = "addons_adamw"
KIND = "optimizer"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {"weight_decay": 1e-4}, "problem": "dense", "steps": 10},
    {
        "id": "hyperparameters",
        "kwargs": {
            "weight_decay": 0.01, "learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99,
            "epsilon": 1e-3,
        },
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "amsgrad_exclusions",
        "kwargs": {
            "weight_decay": 0.02, "learning_rate": 0.02, "amsgrad": True,
            "exclude_from_weight_decay": ["bias"],
        },
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "schedules_legacy_decay",
        "kwargs": {
            "weight_decay": {
                "class_name": "InverseTimeDecay",
                "config": {"initial_learning_rate": 0.01, "decay_steps": 2, "decay_rate": 0.5},
            },
            "learning_rate": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.02, "decay_steps": 4, "decay_rate": 0.3},
            },
            "decay": 0.1,
        },
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "sparse",
        "kwargs": {"weight_decay": 0.05, "learning_rate": 0.01},
        "problem": "sparse",
        "steps": 8,
    },
    {
        "id": "sparse_amsgrad",
        "kwargs": {"weight_decay": 0.05, "learning_rate": 0.01, "amsgrad": True},
        "problem": "sparse",
        "steps": 8,
    },
]
