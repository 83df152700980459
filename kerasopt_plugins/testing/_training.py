"""The promises about training: compile by name, jit on and off, convergence, a NumPy reference,
mixed precision (sparse gradients: _sparse_check.py).

Each check takes a `Subject`, raises `ContractError` naming the promise and the fix, and returns
None when it checked the promise or a string saying why the promise does not apply here.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np

from kerasopt_plugins.testing._construction import numpy
from kerasopt_plugins.testing._subject import ContractError, Subject

TORCH_COMPILE = (
    "jit_compile=True on torch is torch.compile, tens of seconds of C++ compilation per model "
    "on a CPU"
)


def regression_data(n: int = 32, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1)) + 0.1).astype("float32")
    return x, y


def small_model(features: int = 4, seed: int = 0, output_dtype=None) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((features,)),
        keras.layers.Dense(3, activation="tanh"),
        keras.layers.Dense(1, dtype=output_dtype),
    ])


def embedding_model(seed: int = 0) -> keras.Model:
    """Tokens -> Embedding -> Dense: one sparse gradient (on TensorFlow) and dense ones."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((5,), dtype="int32"), keras.layers.Embedding(20, 4), keras.layers.Flatten(),
        keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1),
    ])


def _largest_difference(a_list, b_list) -> tuple[float, int]:
    worst = max(range(len(a_list)), key=lambda i: float(np.max(np.abs(a_list[i] - b_list[i]))))
    return float(np.max(np.abs(a_list[worst] - b_list[worst]))), worst


def check_compile(s: Subject) -> None:
    """``model.compile(optimizer="name")`` makes the class; two epochs of fit are finite and counted."""
    if s.name is None:
        raise ContractError(
            "compile", f"{s.qualified_name} is not registered, so compile(optimizer=...) cannot "
            "name it: decorate the class with @kerasopt_plugins.register_optimizer('my_name')",
        )
    x, y = regression_data()
    model = small_model()
    model.compile(optimizer=s.name, loss="mse")
    if type(model.optimizer) is not s.cls:
        raise ContractError(
            "compile", f"compile(optimizer={s.name!r}) gave {type(model.optimizer).__qualname__}"
        )
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    if not np.isfinite(history.history["loss"]).all():
        raise ContractError(
            "compile", f"fit with optimizer={s.name!r} (its defaults) gave losses {history.history['loss']}"
        )
    if int(numpy(model.optimizer.iterations)) != 8:
        raise ContractError(
            "compile", f"8 batches of fit counted {int(numpy(model.optimizer.iterations))} iterations"
        )


def _fit_weights(s: Subject, x, y, jit: bool):
    model = embedding_model()
    model.compile(optimizer=s.make("jit"), loss="mse", jit_compile=jit)
    before = [numpy(w) for w in model.trainable_variables]
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    return before, [numpy(w) for w in model.trainable_variables]


def check_jit(s: Subject) -> str | None:
    """Training with ``jit_compile`` on and off ends at the same weights (an Embedding and Dense layers).

    On TensorFlow the Embedding's gradient is a tf.IndexedSlices without XLA; XLA may make it dense.
    """
    if keras.backend.backend() == "torch":
        return TORCH_COMPILE
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 20, size=(64, 5)).astype("int32")
    targets = rng.normal(size=(64, 1)).astype("float32")
    start, off = _fit_weights(s, tokens, targets, jit=False)
    _, on = _fit_weights(s, tokens, targets, jit=True)
    if any(np.array_equal(a, b) for a, b in zip(start, off)):
        raise ContractError("jit", f"12 steps of fit with {s.call()} left a weight unchanged")
    if not all(np.allclose(a, b, rtol=s.rtol, atol=s.atol) for a, b in zip(off, on)):
        diff, i = _largest_difference(off, on)
        raise ContractError(
            "jit",
            f"{s.call()} trains differently with jit_compile=True and False (weight {i}, largest "
            f"difference {diff:.3g}): write update_step with keras.ops only, with no Python "
            "branch on a tensor's value and no NumPy conversion inside it",
        )
    return None


QUADRATIC_TARGET = np.array([1.5, -0.5, 2.0], dtype="float32")


def check_converges(s: Subject, steps: int = 300) -> None:
    """300 steps on ``|w - target|²`` from zero end at the target (near it, for a constrained rule)."""
    variable = keras.Variable(np.zeros(3, dtype="float32"))
    optimizer = s.make("converges")
    for _ in range(steps):
        grad = 2.0 * (numpy(variable) - QUADRATIC_TARGET)
        optimizer.apply([keras.ops.convert_to_tensor(grad)], [variable])
    value, target = numpy(variable), QUADRATIC_TARGET
    if s.constrained:  # settles near an interior minimum of its constraint
        ok = np.sum((value - target) ** 2) < 0.01 * np.sum(target**2)
        tolerance = "within 10% of the target's norm (constrained)"
    else:
        ok = np.allclose(value, target, atol=1e-3)
        tolerance = "within 1e-3"
    if not ok:
        raise ContractError(
            "converges",
            f"{steps} steps of {s.call()} on |w - target|^2 from 0 ended at {value}, not "
            f"{tolerance} of {target}: check the sign of the update and that it shrinks with the "
            "gradient; a rule whose fixed point is not the minimum declares constrained=True",
        )


REFERENCE_SHAPES = ((3, 2), (2,))
REFERENCE_STEPS = 10


def _takes_state(reference) -> bool:
    try:
        inspect.signature(reference).bind(None, None, None, None)
    except TypeError:
        return False
    except ValueError:  # no signature to read
        return False
    return True


def check_reference(s: Subject) -> str | None:
    """Step by step, the weights equal the author's NumPy reference (float64) within rtol, atol."""
    if s.reference is None:
        return "no reference given (reference=callable(params, grads, step[, state]) -> params)"
    rng = np.random.default_rng(0)
    start = [rng.normal(size=shape).astype("float32") for shape in REFERENCE_SHAPES]
    grads = [[rng.normal(size=shape).astype("float32") for shape in REFERENCE_SHAPES] for _ in range(REFERENCE_STEPS)]
    optimizer = s.make("reference")
    variables = [keras.Variable(w) for w in start]
    params = [w.astype(np.float64) for w in start]
    state: dict = {}
    extra = (state,) if _takes_state(s.reference) else ()
    for step, grad in enumerate(grads):
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grad], variables)
        params = [np.asarray(p, dtype=np.float64) for p in s.reference(
            [p.copy() for p in params], [g.astype(np.float64) for g in grad], step, *extra)]
        got = [numpy(v) for v in variables]
        if not all(np.allclose(a, b, rtol=s.rtol, atol=s.atol) for a, b in zip(got, params)):
            diff, i = _largest_difference(got, params)
            raise ContractError(
                "reference",
                f"after step {step + 1} of {REFERENCE_STEPS}, {s.call()}'s variable {i} "
                f"(shape {REFERENCE_SHAPES[i]}) differs from the reference by {diff:.3g} (rtol "
                f"{s.rtol:g}, atol {s.atol:g}): the rule computes another formula than the reference",
            )
    return None


def check_mixed_precision(s: Subject) -> None:
    """Under mixed_float16 with a LossScaleOptimizer, fit trains every step with float32 state."""
    x, y = regression_data()
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = small_model(output_dtype="float32")
        inner = s.make("mixed_precision")
        # a small scale: no first steps skipped for overflow, as Keras's 2**15 would
        model.compile(keras.optimizers.LossScaleOptimizer(inner, initial_scale=8.0), loss="mse")
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    finally:
        keras.config.set_dtype_policy(before)
    fix = (
        "cast hyperparameters, the learning rate and the gradient to variable.dtype in update_step, "
        "and create slots with the variable's dtype (add_variable_from_reference or slot_names)"
    )
    weights = [numpy(w) for w in model.trainable_variables]
    if not (np.isfinite(history.history["loss"]).all() and all(np.isfinite(w).all() for w in weights)):
        raise ContractError("mixed_precision", f"{s.call()} under mixed_float16 gave non-finite losses or weights: {fix}")
    steps = int(numpy(inner.iterations))
    if steps != 8:
        raise ContractError(
            "mixed_precision",
            f"{s.call()} under mixed_float16 applied {steps} of 8 steps (LossScaleOptimizer skips "
            f"a step whose gradients are not finite): {fix}",
        )
    shapes = {tuple(v.shape) for v in model.trainable_variables}
    wrong = [v.path for v in inner.variables if tuple(v.shape) in shapes and v.dtype != "float32"]
    if wrong:
        raise ContractError(
            "mixed_precision", f"slots {wrong} are not float32 like their float32 variables: {fix}"
        )
