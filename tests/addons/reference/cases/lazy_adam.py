"""LazyAdam: Adam whose sparse steps update only the touched rows of m, v and the variable."""

TFA_NAME = "LazyAdam"
PORT = "lazy_adam"
KIND = "optimizer"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 10},
    {
        "id": "non_default",
        "kwargs": {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3},
        "problem": "dense",
        "steps": 12,
    },
    # tfa's dense path is Keras 2's Adam, which honours amsgrad (its sparse path ignores it)
    {"id": "amsgrad", "kwargs": {"learning_rate": 0.02, "amsgrad": True}, "problem": "dense", "steps": 12},
    {
        "id": "legacy_decay",
        "kwargs": {"learning_rate": 0.05, "decay": 0.1, "beta_1": 0.5},
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
    {"id": "sparse", "kwargs": {"learning_rate": 0.05}, "problem": "sparse", "steps": 12},
    {
        "id": "sparse_non_default",
        "kwargs": {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 1e-4, "decay": 0.05},
        "problem": "sparse",
        "steps": 10,
    },
]
