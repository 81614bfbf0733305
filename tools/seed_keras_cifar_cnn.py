"""Seed 001, section 4, the seed's Keras CIFAR-10 CNN on synthetic data of CIFAR's shapes (CIFAR-10 is
not available offline): Conv2D(50, 3x3, same, relu) -> Conv2D(75, 3x3, same, relu) -> MaxPool 2 ->
Dropout .25 -> Conv2D(125, 3x3, same, relu) -> MaxPool 2 -> Dropout .25 -> Flatten -> Dense(500, relu) ->
Dropout .4 -> Dense(250, relu) -> Dropout .3 -> Dense(10, softmax); adam, categorical cross-entropy,
``fit(batch_size=128, epochs=2, validation_data=(X_test, Y_test))`` (the seed's 2 epochs, interrupted).
The images: uniform noise in [0, 1) of shape 32x32x3, random labels: the time per step does not depend
on the pixels. ``--train``/``--test`` set the sizes (default 50,000 / 10,000, CIFAR's; ``--quick``
256 / 64, 1 epoch), matching ``fnnet run cifar10_cnn --set synthetic=true synthetic_train=... ``.

Usage: /work/venv-peers/bin/python tools/seed_keras_cifar_cnn.py [--train 5000 --test 1000 --epochs 2]
"""
import os
import time

import numpy as np
from seed_common import parser, report, require

PROGRAM = "seed_keras_cifar_cnn"


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=None)
    p.add_argument("--test", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args()
    require(PROGRAM, "keras")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
    from keras.models import Sequential

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    n_train = args.train or (256 if args.quick else 50000)
    n_test = args.test or (64 if args.quick else 10000)
    epochs = args.epochs or (1 if args.quick else 2)
    rng = np.random.default_rng(args.seed)
    X_train, X_test = (rng.random((n, 32, 32, 3), np.float32) for n in (n_train, n_test))
    Y_train, Y_test = (keras.utils.to_categorical(rng.integers(0, 10, n), 10) for n in (n_train, n_test))

    model = Sequential()
    model.add(keras.Input((32, 32, 3)))
    model.add(Conv2D(50, kernel_size=(3, 3), strides=(1, 1), padding='same', activation='relu'))
    model.add(Conv2D(75, kernel_size=(3, 3), strides=(1, 1), padding='same', activation='relu'))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Conv2D(125, kernel_size=(3, 3), strides=(1, 1), padding='same', activation='relu'))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(500, activation='relu'))
    model.add(Dropout(0.4))
    model.add(Dense(250, activation='relu'))
    model.add(Dropout(0.3))
    model.add(Dense(10, activation='softmax'))
    model.compile(loss='categorical_crossentropy', metrics=['accuracy'], optimizer='adam')
    h = model.fit(X_train, Y_train, batch_size=128, epochs=epochs, validation_data=(X_test, Y_test), verbose=0)
    report(PROGRAM, start, f"Keras {keras.__version__} ({keras.backend.backend()}), synthetic {n_train} train / "
           f"{n_test} test 32x32x3, {epochs} epochs, batch 128",
           {"val_accuracy": round(float(h.history["val_accuracy"][-1]), 4)})


if __name__ == "__main__":
    main()
