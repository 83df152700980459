"""Built-in problems for comparisons: pure data and NumPy functions, no download.

Analytic problems (`seed`, `quadratic`, `rosenbrock`) give the loss and its exact gradient for
a small parameter vector. `digits` trains a small Keras MLP on scikit-learn's bundled 8x8 digits.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

__all__ = ["PROBLEMS", "AnalyticProblem", "ModelProblem", "get_problem"]


@dataclasses.dataclass(frozen=True)
class AnalyticProblem:
    """A loss over a few parameters with a closed-form gradient.

    Attributes:
        name, description: how `kerasopt list` and the plots show it.
        initial: the starting parameters, the same for every optimizer.
        optimum: the minimiser, marked on the plots.
        loss, gradient: NumPy functions of a float64 parameter vector.
        learning_rate: the default rate for specs that do not give one.
        steps: the default number of steps.
        tolerance: "reached" means loss <= tolerance (for summary.json).
    """

    name: str
    description: str
    initial: tuple[float, ...]
    optimum: tuple[float, ...]
    loss: Callable[[np.ndarray], float]
    gradient: Callable[[np.ndarray], np.ndarray]
    learning_rate: float
    steps: int
    tolerance: float
    log_loss: bool = False

    @property
    def dim(self) -> int:
        return len(self.initial)


@dataclasses.dataclass(frozen=True)
class ModelProblem:
    """A small Keras model trained on a bundled data set; the trajectory tracks a few weights."""

    name: str
    description: str
    learning_rate: float
    steps: int
    tolerance: float
    batch_size: int = 64
    tracked: int = 2
    log_loss: bool = True

    def load(self, seed: int):
        """(x, y, model) with the model's weights drawn from `seed`."""
        try:
            from sklearn.datasets import load_digits  # noqa: PLC0415
        except ImportError:
            raise ModuleNotFoundError(
                "the 'digits' problem needs scikit-learn: pip install 'kerasopt_plugins[digits]'"
            ) from None
        import keras  # noqa: PLC0415

        data = load_digits()
        x = (data.data / 16.0).astype("float32")
        y = data.target.astype("int32")
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        return x, y, model


def _rosenbrock_loss(p):
    x, y = p
    return float((1 - x) ** 2 + 100 * (y - x**2) ** 2)


def _rosenbrock_gradient(p):
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


_QUADRATIC_SCALES = np.array([1.0, 25.0])

PROBLEMS = {
    p.name: p
    for p in (
        AnalyticProblem(
            name="seed",
            description="the tutorial's problem: loss |w| (gradient +-1), w starts at 3.0",
            initial=(3.0,),
            optimum=(0.0,),
            loss=lambda p: float(np.abs(p).sum()),
            gradient=np.sign,
            learning_rate=0.05,
            steps=150,
            tolerance=0.05,
        ),
        AnalyticProblem(
            name="quadratic",
            description="ill-conditioned bowl 0.5*(x^2 + 25*y^2), condition number 25",
            initial=(-4.0, 1.5),
            optimum=(0.0, 0.0),
            loss=lambda p: float(0.5 * np.sum(_QUADRATIC_SCALES * p**2)),
            gradient=lambda p: _QUADRATIC_SCALES * p,
            learning_rate=0.03,
            steps=200,
            tolerance=1e-4,
            log_loss=True,
        ),
        AnalyticProblem(
            name="rosenbrock",
            description="Rosenbrock's banana valley (1-x)^2 + 100*(y-x^2)^2, from (-1.2, 1)",
            initial=(-1.2, 1.0),
            optimum=(1.0, 1.0),
            loss=_rosenbrock_loss,
            gradient=_rosenbrock_gradient,
            learning_rate=0.001,
            steps=2000,
            tolerance=1e-3,
            log_loss=True,
        ),
        ModelProblem(
            name="digits",
            description="MLP 64-32-10 on scikit-learn's 8x8 digits (needs the 'digits' extra)",
            learning_rate=0.1,
            steps=300,
            tolerance=0.1,
        ),
    )
}
"""The built-in problems by name: "seed", "quadratic", "rosenbrock" (`AnalyticProblem`) and
"digits" (`ModelProblem`); `get_problem(name)` looks one up."""


def get_problem(name: str) -> AnalyticProblem | ModelProblem:
    """A built-in problem by name; `ValueError` naming the choices otherwise."""
    try:
        return PROBLEMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}") from None
