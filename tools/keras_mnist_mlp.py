"""Reference run of seed 000's Keras MLP in Keras itself, to compare with ``fnnet run mnist_mlp``.

The seed's code, verbatim in its model and ``fit`` call: ``InputLayer([28, 28])`` -> ``Flatten`` ->
3 x [``Dense(128)``, ``Activation('relu')``, ``Dropout(0.5)``] -> ``Dense(10, softmax)``, compiled with
``"adam"`` and ``"categorical_crossentropy"``, ``fit(X_train, y_train, validation_data=(X_val, y_val),
epochs=13)`` (Keras' default batch size 32), on the course's split: pixels / 255, the first 50,000
training images to train, the last 10,000 to validate (the same arrays as the recipe, loaded with
``fnnet.data.load``). Prints each seed's validation accuracy per epoch and after the 13th.

Needs Keras 3 (any backend; e.g. ``pip install keras jax``), which fnnet does not depend on.
Usage (from the repository root):
    KERAS_BACKEND=jax PYTHONPATH=. python tools/keras_mnist_mlp.py --data-dir ../shared/data --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np

from fnnet.data import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder holding mnist/ (as for fnnet run)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="keras.utils.set_random_seed values")
    parser.add_argument("--epochs", type=int, default=13)
    args = parser.parse_args()

    import keras
    import keras.layers as ll

    data = load("mnist", data_dir=args.data_dir)
    x = data.x_train.reshape(-1, 28, 28).astype(np.float64) / 255.0
    y = keras.utils.to_categorical(data.y_train, 10)
    x_train, x_val, y_train, y_val = x[:-10000], x[-10000:], y[:-10000], y[-10000:]
    final = []
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(name="mlp")
        model.add(ll.InputLayer((28, 28)))
        model.add(ll.Flatten())
        for _ in range(3):
            model.add(ll.Dense(128))
            model.add(ll.Activation("relu"))
            model.add(ll.Dropout(0.5))
        model.add(ll.Dense(10, activation="softmax"))
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, verbose=0)
        curve = history.history["val_accuracy"]
        final.append(curve[-1])
        print(f"seed {seed}: validation accuracy per epoch {' '.join(f'{v:.4f}' for v in curve)}", flush=True)
    print(f"Keras {keras.__version__} ({keras.backend.backend()}): validation accuracy after {args.epochs} epochs "
          + " / ".join(f"{100 * v:.2f}%" for v in final)
          + (f", mean {100 * statistics.mean(final):.2f}% ± {100 * statistics.stdev(final):.2f}%" if len(final) > 1 else ""))


if __name__ == "__main__":
    main()
