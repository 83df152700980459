"""ConditionalGradient: Frank-Wolfe steps, w <- lr * w - (1 - lr) * lambda_ * s.

Not here (tfa cannot produce them): a schedule learning rate (tfa crashes), legacy decay
(tfa ignores it; the port applies it), ord="nuclear" on the dense problem (its 3-D variable
crashes tfa). tests/addons/test_conditional_gradient.py covers those.
"""

TFA_NAME = "ConditionalGradient"
PORT = "conditional_gradient"
KIND = "optimizer"
SLOT_MAP = {"conditional_gradient": None}  # tfa creates it and never reads or writes it
CASES = [
    # learning_rate has no default in tfa
    {"id": "defaults", "kwargs": {"learning_rate": 0.1}, "problem": "dense", "steps": 10},
    {
        "id": "non_default",
        "kwargs": {"learning_rate": 0.8, "lambda_": 3.0, "epsilon": 1e-2},
        "problem": "dense",
        "steps": 12,
    },
    {"id": "lambda", "kwargs": {"learning_rate": 0.6, "lambda_": 0.5}, "problem": "dense", "steps": 8},
    {"id": "sparse", "kwargs": {"learning_rate": 0.7, "lambda_": 1.5}, "problem": "sparse", "steps": 10},
    {
        "id": "nuclear_sparse",
        "kwargs": {"learning_rate": 0.7, "lambda_": 1.5, "ord": "nuclear"},
        "problem": "sparse",
        "steps": 10,
        # float32 singular vectors: TensorFlow's SVD (Eigen) and LAPACK's (JAX, torch) differ
        # by up to 7e-7 in w (|w| <= lambda_ = 1.5) on this problem; TensorFlow matches tfa bit
        # for bit
        "rtol": 1e-6,
        "atol": 2e-6,
    },
]
