"""AdaBelief: Adam whose second moment is the variance of the gradient around its average.

rectify (on by default) is RAdam's rectification, computed in adabelief.py's own order of
operations, which differs from rectified_adam.py's: "threshold_order" uses beta_2 = 0.99 and a
threshold between the two files' sma_t at step 5 (AdaBelief 4.9598694, RectifiedAdam 4.9598541),
so AdaBelief rectifies step 5 where RectifiedAdam does not. With the default beta_2 = 0.999,
sma_t is 4.98645 at step 5 (just under 5) and 6.0005 at step 6, the first rectified step.
"""

TFA_NAME = "AdaBelief"
PORT = "adabelief"
KIND = "optimizer"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 12},
    {  # the default betas with a rate at which r_t's roundings at steps 6+ show in the weights
        "id": "default_betas_threshold_at_step_5",
        "kwargs": {"learning_rate": 0.1},  # AdaBelief's steps are lr * O(1) to lr * O(10)
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "no_rectify_amsgrad_weight_decay",
        "kwargs": {"learning_rate": 0.01, "rectify": False, "amsgrad": True, "weight_decay": 0.05},
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "warmup_then_decay_past_total_steps",
        "kwargs": {
            "learning_rate": 0.05, "total_steps": 16, "warmup_proportion": 0.25, "min_lr": 1e-3,
            "beta_2": 0.99, "weight_decay": 0.01, "epsilon": 1e-10,
        },
        "problem": "dense",
        "steps": 20,
    },
    {
        "id": "threshold_order",
        "kwargs": {"learning_rate": 0.01, "beta_2": 0.99, "sma_threshold": 4.95986},
        "problem": "dense",
        "steps": 7,
    },
    {
        "id": "schedules_legacy_decay",
        "kwargs": {
            "learning_rate": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.02, "decay_steps": 3, "decay_rate": 0.5},
            },
            "weight_decay": {
                "class_name": "PiecewiseConstantDecay",
                "config": {"boundaries": [5], "values": [0.1, 0.01]},
            },
            "decay": 0.05,
            "epsilon": 1e-6,
            "beta_1": 0.5,
            "beta_2": 0.9,
            "sma_threshold": 4.0,
        },
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "sparse_rectified",
        "kwargs": {"learning_rate": 0.01, "beta_2": 0.95, "weight_decay": 0.02},
        "problem": "sparse",
        "steps": 10,
    },
    {
        "id": "sparse_no_rectify_amsgrad",
        "kwargs": {"learning_rate": 0.01, "rectify": False, "amsgrad": True, "epsilon": 1e-8},
        "problem": "sparse",
        "steps": 8,
    },
]
