"""RectifiedAdam: Adam with the variance of its adaptive rate rectified (RAdam), warmup optional.

With the default beta_2 = 0.999, sma_t is 4.98645 at step 5 in tfa's float32 order of
operations (4.99600 exactly), just under sma_threshold = 5: steps 1-5 take the momentum step and
step 6 the first rectified one, where r_t is sensitive to every rounding of sma_t (6.0005, so
1 ulp of beta_2^t moves the step by ~0.6%). "threshold_order" splits tfa's two orders of
operations: with beta_2 = 0.99, RectifiedAdam's sma_t at step 5 is 4.9598541 and AdaBelief's
4.9598694; the threshold between them leaves RectifiedAdam's step 5 unrectified.
"""

TFA_NAME = "RectifiedAdam"
PORT = "rectified_adam"
KIND = "optimizer"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 12},
    {  # the default betas with a rate at which r_t's roundings at steps 6+ show in the weights
        "id": "default_betas_threshold_at_step_5",
        "kwargs": {"learning_rate": 0.5},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "amsgrad_weight_decay",
        "kwargs": {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.05},
        "problem": "dense",
        "steps": 10,
    },
    {
        "id": "warmup_then_decay_past_total_steps",
        "kwargs": {
            "learning_rate": 0.05, "total_steps": 16, "warmup_proportion": 0.25, "min_lr": 1e-3,
            "beta_2": 0.99, "weight_decay": 0.01,
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
        "id": "sparse_amsgrad_weight_decay",
        "kwargs": {"learning_rate": 0.01, "beta_2": 0.95, "amsgrad": True, "weight_decay": 0.02},
        "problem": "sparse",
        "steps": 10,
    },
]
