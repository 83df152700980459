"""SGDW: SGD with decoupled weight decay (w <- w - wd * w, not scaled by the learning rate)."""

TFA_NAME = "SGDW"
PORT = "sgdw"
KIND = "optimizer"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {"weight_decay": 1e-4}, "problem": "dense", "steps": 8},
    {
        "id": "momentum_nesterov",
        "kwargs": {"weight_decay": 0.01, "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "schedules_exclusions",
        "kwargs": {
            "weight_decay": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.02, "decay_steps": 3, "decay_rate": 0.5},
            },
            "learning_rate": {
                "class_name": "PiecewiseConstantDecay",
                "config": {"boundaries": [4], "values": [0.1, 0.01]},
            },
            "momentum": 0.5,
            "exclude_from_weight_decay": ["bias", "filt"],
        },
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "legacy_decay",
        "kwargs": {"weight_decay": 0.01, "learning_rate": 0.1, "decay": 0.05, "momentum": 0.9},
        "problem": "dense",
        "steps": 8,
    },
    {
        "id": "sparse_momentum",
        "kwargs": {"weight_decay": 0.05, "learning_rate": 0.1, "momentum": 0.9},
        "problem": "sparse",
        "steps": 8,
    },
    {
        "id": "sparse_no_momentum",
        "kwargs": {"weight_decay": 0.05, "learning_rate": 0.1},
        "problem": "sparse",
        "steps": 4,
        # tfa's SGD scattered -lr * g straight into the rows when momentum was 0, bypassing
        # the decay: its table never decays. The port decays the touched rows (docs/tfa.md);
        # tests/addons/test_decoupled_decay.py checks both facts against this data.
        "quirk": "tfa skips the decay on sparse gradients without momentum",
    },
]
