"""Seed 000, part 3, the seed's Keras program: ``InputLayer([28, 28])`` -> ``Flatten`` -> 3 x [``Dense(128)``,
``Activation('relu')``, ``Dropout(0.5)``] -> ``Dense(10, softmax)``, ``compile("adam",
"categorical_crossentropy", metrics=["accuracy"])``, ``fit(X_train, y_train, validation_data=(X_val,
y_val), epochs=13)`` (Keras' default batch 32), on the course's split: pixels / 255, the first 50,000
training images to train, the last 10,000 to validate (the recipe's split). The seed says "more than 97.5%".

Keras 3 on its JAX backend (no TensorFlow here). ``--quick``: the first 5,000 training images (the last
1,000 of them to validate), 2 epochs, batch 50 (the recipe's --quick settings on other images).

Usage: /work/venv-peers/bin/python tools/seed_keras_mnist_mlp.py --data-dir ../shared/data
"""
import os
import time

import numpy as np
from seed_common import mnist, parser, report, require

PROGRAM = "seed_keras_mnist_mlp"


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    require(PROGRAM, "keras")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import keras.layers as ll

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    x_all, y_all, _, _ = mnist(args.data_dir)
    if args.quick:
        x_all, y_all = x_all[:5000], y_all[:5000]
    val, epochs, batch = (1000, 2, 50) if args.quick else (10000, 13, 32)
    X = x_all.astype(np.float32) / 255.0
    y = keras.utils.to_categorical(y_all, 10)
    X_train, X_val, y_train, y_val = X[:-val], X[-val:], y[:-val], y[-val:]
    model = keras.Sequential(name="mlp")
    model.add(ll.InputLayer([28, 28]))
    model.add(ll.Flatten())
    for _ in range(3):
        model.add(ll.Dense(128))
        model.add(ll.Activation('relu'))
        model.add(ll.Dropout(0.5))
    model.add(ll.Dense(10, activation='softmax'))
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X_train, y_train, validation_data=(X_val, y_val), epochs=epochs, batch_size=batch, verbose=0)
    report(PROGRAM, start, f"Keras {keras.__version__} ({keras.backend.backend()}), {len(X_train)} train / {val} "
           f"validation, {epochs} epochs, batch {batch}",
           {"val_accuracy": round(float(history.history["val_accuracy"][-1]), 4)})


if __name__ == "__main__":
    main()
