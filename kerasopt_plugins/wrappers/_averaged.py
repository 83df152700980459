"""AveragedOptimizer: what SWA and MovingAverage share, the average and ways to use it."""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

from keras import ops

from kerasopt_plugins.optimizers import _keras_compat
from kerasopt_plugins.wrappers._wrapper import OptimizerWrapper


def _copy(variable):
    """The variable's value in a buffer of its own (JAX would otherwise share and donate it)."""
    return ops.copy(ops.convert_to_tensor(variable))


class AveragedOptimizer(OptimizerWrapper):
    """A wrapper that keeps an average of the weights in the slot "average".

    Training uses and updates the weights as the inner optimizer makes them; the average is
    for evaluation and export: `assign_average_vars` copies it into the weights for good,
    `averaged_weights()` puts it in for the length of a ``with`` block, `swap_weights`
    exchanges weights and averages.
    """

    slot_names = ("average",)
    own_step_writes = ("average",)

    def _averages_of(self, variables: Sequence) -> list[tuple]:
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} has no averages yet: train a step (or build it) first"
            )
        pairs = []
        for variable in variables:
            try:
                index = _keras_compat.variable_index(self, variable)
            except ValueError:  # `variable_index`: not one of the variables it was built with
                continue  # not trained by this optimizer (a batch-norm statistic, a frozen layer)
            average = self._slots["average"][index]
            if average is not None:
                pairs.append((variable, average))
        if variables and not pairs:
            raise ValueError(
                f"{type(self).__name__}: none of the {len(variables)} variables given is one this "
                "optimizer trains; pass model.trainable_variables (or model.variables)"
            )
        return pairs

    def assign_average_vars(self, var_list: Sequence) -> None:
        """Copy the average into each variable of `var_list` that this optimizer trains (as
        tfa's ``assign_average_vars``; others, such as batch-norm statistics, are left alone).

        The training weights are overwritten: to keep them, use `averaged_weights()`.
        """
        for variable, average in self._averages_of(list(var_list)):
            variable.assign(_copy(average))  # a buffer of its own (JAX donates both)

    @contextlib.contextmanager
    def averaged_weights(self, var_list: Sequence | None = None) -> Iterator[None]:
        """Within the block the variables hold their averages; after it, exactly their values
        from before (also when the block raises).

        `var_list` defaults to every variable this optimizer trains. For example:

        ```python
        with optimizer.averaged_weights():
            model.evaluate(x_test, y_test)
        ```
        """
        pairs = self._averages_of(list(self._trainable_variables if var_list is None else var_list))
        saved = [_copy(variable) for variable, _ in pairs]
        for variable, average in pairs:
            variable.assign(_copy(average))
        try:
            yield
        finally:
            for (variable, _), value in zip(pairs, saved):
                variable.assign(value)

    def swap_weights(self, var_list: Sequence | None = None) -> None:
        """Exchange the variables and their averages (exactly: a copy, not tfa's add/subtract);
        swapping twice restores both. Before training on, swap back."""
        pairs = self._averages_of(list(self._trainable_variables if var_list is None else var_list))
        for variable, average in pairs:
            held = _copy(variable)
            variable.assign(_copy(average))
            average.assign(held)
