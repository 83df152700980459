"""tfa's cyclical learning-rate schedules: the four classes, both scale modes, large steps.

One module for the four classes: each case names its class in "tfa_name" (TFA_NAME is the
default). A "scale_fn" kwarg is the name of a function in generate_tfa.py's `run_schedule`
("halving": a module-level-style named function, 0.5 ** x; "lambda_halving": the same as a
lambda), since a case module holds no code. For every case the generator records tfa's values
at float32 steps and, per step dtype (int32, int64, float64), the values or tfa's error text.
"""

TFA_NAME = "CyclicalLearningRate"
PORT = "cyclical"  # not an optimizer: tests/addons/test_cyclical_schedules.py replays these
KIND = "schedule"

# 0 .. 3 full cycles of step_size 4 (2 * 4 steps each), then large steps: one past 2**24
# (float32 rounds the step), the last int32 step, and ordinary large ones.
_STEPS = list(range(3 * 2 * 4 + 1)) + [100, 1001, 12345, 16777217, 2147483647]
_FRACTIONAL = [0.5, 2.25, 3.75, 4.5, 7.9, 12.125]

CASES = [
    {
        "id": "triangular_defaults",
        "tfa_name": "TriangularCyclicalLearningRate",
        "kwargs": {"initial_learning_rate": 1e-4, "maximal_learning_rate": 1e-2, "step_size": 4},
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "triangular_iterations",
        "tfa_name": "TriangularCyclicalLearningRate",
        "kwargs": {
            "initial_learning_rate": 0.1, "maximal_learning_rate": 0.5, "step_size": 3.5,
            "scale_mode": "iterations", "name": "MyTriangular",
        },
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "triangular2_defaults",
        "tfa_name": "Triangular2CyclicalLearningRate",
        "kwargs": {"initial_learning_rate": 1e-4, "maximal_learning_rate": 1e-2, "step_size": 4},
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "triangular2_iterations",
        "tfa_name": "Triangular2CyclicalLearningRate",
        "kwargs": {
            "initial_learning_rate": 1e-3, "maximal_learning_rate": 3e-2, "step_size": 4,
            "scale_mode": "iterations",
        },
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "exponential_defaults",  # scale_mode "iterations", gamma 1.0
        "tfa_name": "ExponentialCyclicalLearningRate",
        "kwargs": {"initial_learning_rate": 1e-4, "maximal_learning_rate": 1e-2, "step_size": 4},
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "exponential_gamma_iterations",
        "tfa_name": "ExponentialCyclicalLearningRate",
        "kwargs": {
            "initial_learning_rate": 1e-3, "maximal_learning_rate": 1e-1, "step_size": 4,
            "gamma": 0.9,
        },
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "exponential_gamma_close_to_one",  # gamma ** step stays well above 0 for large steps
        "tfa_name": "ExponentialCyclicalLearningRate",
        "kwargs": {
            "initial_learning_rate": 1e-3, "maximal_learning_rate": 1e-1, "step_size": 4,
            "gamma": 0.99999,
        },
        "steps": _STEPS[:-2] + [100003, 400001],
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "exponential_gamma_cycle",
        "tfa_name": "ExponentialCyclicalLearningRate",
        "kwargs": {
            "initial_learning_rate": 2e-3, "maximal_learning_rate": 2e-2, "step_size": 5,
            "gamma": 0.75, "scale_mode": "cycle", "name": "MyExponential",
        },
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "generic_named_fn_cycle",
        "kwargs": {
            "initial_learning_rate": 1e-3, "maximal_learning_rate": 1e-2, "step_size": 4,
            "scale_fn": "halving",
        },
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "generic_named_fn_iterations",
        "kwargs": {
            "initial_learning_rate": 1e-3, "maximal_learning_rate": 1e-2, "step_size": 2,
            "scale_fn": "halving", "scale_mode": "iterations", "name": "MyCyclic",
        },
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "generic_lambda",  # what tfa serializes for a lambda (Python bytecode)
        "kwargs": {
            "initial_learning_rate": 1e-3, "maximal_learning_rate": 1e-2, "step_size": 4,
            "scale_fn": "lambda_halving",
        },
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
    {
        "id": "decreasing_triangle",  # maximal < initial: tfa computes an inverted triangle
        "tfa_name": "TriangularCyclicalLearningRate",
        "kwargs": {"initial_learning_rate": 0.05, "maximal_learning_rate": 0.01, "step_size": 6},
        "steps": _STEPS,
        "fractional_steps": _FRACTIONAL,
    },
]
