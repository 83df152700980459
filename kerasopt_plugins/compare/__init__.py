"""Compare optimizers on one problem in a single run: problems (data), runner, plotting."""

from kerasopt_plugins.compare.problems import PROBLEMS, AnalyticProblem, ModelProblem, get_problem
from kerasopt_plugins.compare.runner import ComparisonResult, Run, compare_optimizers, describe_optimizer

__all__ = [
    "PROBLEMS",
    "AnalyticProblem",
    "ComparisonResult",
    "ModelProblem",
    "Run",
    "compare_optimizers",
    "describe_optimizer",
    "get_problem",
]
