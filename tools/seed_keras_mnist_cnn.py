"""Seed 001, section 3, the seed's two Keras programs on MNIST (pixels / 255, validated on the test set as
the seed does): ``Dense(100, relu) -> Dense(10, softmax)`` on flat 784 pixels, and ``Conv2D(25, (3, 3),
valid, relu) -> MaxPool2D((1, 1)) -> Flatten -> Dense(100, relu) -> Dense(10, softmax)`` on 28x28x1;
both ``compile(loss='categorical_crossentropy', metrics=['accuracy'], optimizer='adam')``,
``fit(batch_size=128, epochs=10, validation_data=(X_test, Y_test))`` (``fnnet run mnist_cnn``).

Keras 3 on its JAX backend. ``--quick``: the first 2,000 training and 1,000 test images, 1 epoch, batch 100.

Usage: /work/venv-peers/bin/python tools/seed_keras_mnist_cnn.py --data-dir ../shared/data
"""
import os
import time

from seed_common import mnist, parser, report, require

PROGRAM = "seed_keras_mnist_cnn"


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    require(PROGRAM, "keras")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    from keras.layers import Conv2D, Dense, Flatten, MaxPool2D
    from keras.models import Sequential

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    X_train, y_train, X_test, y_test = mnist(args.data_dir)
    epochs, batch = (1, 100) if args.quick else (10, 128)
    if args.quick:
        X_train, y_train, X_test, y_test = X_train[:2000], y_train[:2000], X_test[:1000], y_test[:1000]
    X_train = X_train.astype('float32') / 255
    X_test = X_test.astype('float32') / 255
    Y_train, Y_test = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)
    result = {}

    model = Sequential()
    model.add(keras.Input((784,)))
    model.add(Dense(100, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    model.compile(loss='categorical_crossentropy', metrics=['accuracy'], optimizer='adam')
    h = model.fit(X_train.reshape(-1, 784), Y_train, batch_size=batch, epochs=epochs,
                  validation_data=(X_test.reshape(-1, 784), Y_test), verbose=0)
    result["dense_val_accuracy"] = round(float(h.history["val_accuracy"][-1]), 4)

    model = Sequential()
    model.add(keras.Input((28, 28, 1)))
    model.add(Conv2D(filters=25, kernel_size=(3, 3), strides=(1, 1), padding='valid', activation='relu'))
    model.add(MaxPool2D(pool_size=(1, 1)))
    model.add(Flatten())
    model.add(Dense(100, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    model.compile(loss='categorical_crossentropy', metrics=['accuracy'], optimizer='adam')
    h = model.fit(X_train.reshape(-1, 28, 28, 1), Y_train, batch_size=batch, epochs=epochs,
                  validation_data=(X_test.reshape(-1, 28, 28, 1), Y_test), verbose=0)
    result["cnn_val_accuracy"] = round(float(h.history["val_accuracy"][-1]), 4)
    report(PROGRAM, start, f"Keras {keras.__version__} ({keras.backend.backend()}), {len(X_train)} train / "
           f"{len(X_test)} test, {epochs} epochs, batch {batch}", result)


if __name__ == "__main__":
    main()
