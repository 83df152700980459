"""NovoGrad: per-variable second moment (squared gradient norm), Keras-2 momentum on the step.

tfa's get_config drops `amsgrad` and `decay`, and the parity test builds the port from tfa's
serialized config, so cases with amsgrad=True or decay > 0 cannot be replayed from it: they are
in novograd_kwargs.py (replayed from the constructor arguments by tests/addons/test_novograd.py).
"""

TFA_NAME = "NovoGrad"
PORT = "novograd"
KIND = "optimizer"
SLOT_MAP = {}
CASES = [
    {"id": "defaults", "kwargs": {}, "problem": "dense", "steps": 10},
    {
        "id": "non_default",
        "kwargs": {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "weight_decay_grad_averaging",
        "kwargs": {"learning_rate": 0.02, "weight_decay": 0.05, "grad_averaging": True},
        "problem": "dense",
        "steps": 12,
    },
    {
        "id": "schedule",
        "kwargs": {
            "learning_rate": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.5},
            },
            "grad_averaging": True,
        },
        "problem": "dense",
        "steps": 10,
    },
    {"id": "sparse", "kwargs": {"learning_rate": 0.05}, "problem": "sparse", "steps": 12},
    {
        "id": "sparse_weight_decay_grad_averaging",
        "kwargs": {"learning_rate": 0.05, "weight_decay": 0.1, "grad_averaging": True, "beta_2": 0.9},
        "problem": "sparse",
        "steps": 10,
    },
    # tfa's get_config drops `amsgrad` and `decay` (its saved configs reload without them):
    # these cases build the port from their arguments ("build_from": "kwargs")
    {
        "id": "amsgrad",
        "build_from": "kwargs",
        "kwargs": {"learning_rate": 0.05, "amsgrad": True},
        "problem": "dense",
        "steps": 12,
        # JAX and torch sum g * g in another order than TensorFlow (v differs by an ulp), and
        # momentum accumulates it: 4e-7 in weights of order 1 after 12 steps, where the kernel
        # crosses zero (-0.21 -> 0.17 -> 0.06 -> -0.04). TensorFlow matches tfa bit for bit.
        "atol": 1e-6,
    },
    {
        "id": "amsgrad_everything",
        "build_from": "kwargs",
        "kwargs": {
            "learning_rate": 0.02, "amsgrad": True, "weight_decay": 0.05, "grad_averaging": True,
            "beta_1": 0.5, "beta_2": 0.9,
        },
        "problem": "dense",
        "steps": 12,
    },
    {"id": "legacy_decay", "build_from": "kwargs", "kwargs": {"learning_rate": 0.05, "decay": 0.1}, "problem": "dense", "steps": 10},
    # (tfa crashes on a sparse gradient with amsgrad=True: its vhat is shaped like the whole
    # variable, the gradient like the touched rows; tests/addons/test_novograd.py covers it)
    {
        "id": "sparse_decay",
        "build_from": "kwargs",
        "kwargs": {"learning_rate": 0.05, "decay": 0.05, "weight_decay": 0.01},
        "problem": "sparse",
        "steps": 10,
    },
]
