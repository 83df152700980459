"""Train with optimizer="cmomentum_sgd", save the model, reload it in a fresh process.

Run: python docs/examples/quickstart.py [OUT_DIR]
"""

import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasopt_plugins  # noqa: E402,F401  (registers the optimizers with Keras)


def main(out_dir: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="cmomentum_sgd", loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=20, verbose=0)
    print(f"loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f}")
    path = os.path.join(out_dir, "quickstart.keras")
    model.save(path)
    check = (
        "import keras, kerasopt_plugins; "
        f"m = keras.saving.load_model({path!r}); "
        "print('reloaded in a fresh process:', type(m.optimizer).__name__, "
        "'iterations =', int(m.optimizer.iterations))"
    )
    subprocess.run([sys.executable, "-c", check], check=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
