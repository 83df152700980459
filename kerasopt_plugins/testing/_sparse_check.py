"""The sparse promise: a tf.IndexedSlices gradient (an Embedding's, on TensorFlow) works and gives
the dense result, over every row always, over some rows as the optimizer declares (`Subject.sparse`).
"""

from __future__ import annotations

import keras
import numpy as np

from kerasopt_plugins.testing._construction import numpy
from kerasopt_plugins.testing._subject import ContractError, Subject


def _sparse_run(s: Subject, steps, start, sparse: bool):
    import tensorflow as tf

    optimizer = s.make("sparse")
    variable = keras.Variable(start)
    optimizer.build([variable])
    moved_untouched = []
    for step, (indices, values) in enumerate(steps):
        gradient = tf.IndexedSlices(tf.constant(values), tf.constant(indices), tf.constant(start.shape, tf.int64))
        if not sparse:
            gradient = tf.convert_to_tensor(gradient)  # the dense gradient: duplicates summed
        state = [variable] + [v for v in optimizer.variables if tuple(v.shape) == start.shape]
        before = [numpy(v) for v in state]
        try:
            optimizer.apply([gradient], [variable])
        except Exception as err:  # noqa: BLE001
            raise ContractError(
                "sparse",
                f"{s.call()}.apply with a tf.IndexedSlices gradient (what an Embedding's gradient is "
                f"on TensorFlow) raised {type(err).__name__}: {err}: combine the gradient with "
                "keras.ops functions (ops.multiply, ops.add), not Python operators, or read its "
                "rows with kerasopt_plugins.optimizers._sparse.sparse_rows",
            ) from err
        untouched = sorted(set(range(start.shape[0])) - set(int(i) for i in indices))
        for v, old in zip(state, before):
            if not np.array_equal(numpy(v)[untouched], old[untouched]):
                moved_untouched.append((step, v.path, untouched))
    return numpy(variable), moved_untouched


def check_sparse(s: Subject) -> str | None:
    """A tf.IndexedSlices gradient works, and gives the dense result as the rule declares."""
    if keras.backend.backend() != "tensorflow":
        return f"gradients are dense on {keras.backend.backend()}: only TensorFlow passes tf.IndexedSlices"
    rng = np.random.default_rng(0)
    start = rng.normal(size=(5, 3)).astype("float32")
    every_row = [np.array([0, 1, 2, 3, 4, 1]) for _ in range(3)]
    some_rows = [np.array(r) for r in ([0, 2, 2], [1, 3], [0, 4, 4])]

    def steps(rows):
        return [(r, rng.normal(size=(len(r), 3)).astype("float32")) for r in rows]

    tolerance = {"rtol": 1e-5, "atol": 1e-5}
    full = steps(every_row)
    sparse, _ = _sparse_run(s, full, start, sparse=True)
    dense, _ = _sparse_run(s, full, start, sparse=False)
    if not np.allclose(sparse, dense, **tolerance):
        raise ContractError(
            "sparse",
            f"{s.call()}: a tf.IndexedSlices gradient that touches every row (one twice) gave "
            f"other weights than the same gradient made dense (largest difference "
            f"{float(np.max(np.abs(sparse - dense))):.3g}): sum repeated indices "
            "(kerasopt_plugins.optimizers._sparse.sparse_rows) and update the rows the gradient names",
        )
    partial = steps(some_rows)
    sparse, moved = _sparse_run(s, partial, start, sparse=True)
    if s.sparse == "dense":
        dense, _ = _sparse_run(s, partial, start, sparse=False)
        if not np.allclose(sparse, dense, **tolerance):
            raise ContractError(
                "sparse",
                f"{s.call()} is declared sparse='dense', but tf.IndexedSlices gradients of some rows "
                f"gave other weights than the same gradients made dense (largest difference "
                f"{float(np.max(np.abs(sparse - dense))):.3g}): apply the dense rule to every row, "
                "or declare sparse='lazy' if untouched rows are meant to stay",
            )
    if s.sparse == "lazy" and moved:
        step, path, rows = moved[0]
        raise ContractError(
            "sparse",
            f"{s.call()} is declared sparse='lazy', but step {step} changed rows {rows} of {path}, "
            "which the tf.IndexedSlices gradient did not touch: read and write only the gradient's "
            "rows (kerasopt_plugins.optimizers._sparse.take_rows, assign_rows)",
        )
    return None
