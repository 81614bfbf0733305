"""Seed 001, section 1, the seed's Keras models on IMDB (Deep Learning with Python ch. 4): the original
16-16-1, the smaller 8-8-1, the bigger 512-512-1 (relu, sigmoid output), the original with
``kernel_regularizer=regularizers.l2(0.001)`` on both hidden layers, and with ``Dropout(0.5)`` after each;
the seed leaves "load data, compile, train" to the reader: compiled as the book does (``rmsprop``,
``binary_crossentropy``), ``fit(epochs=20, batch_size=512)`` on the 25,000 training reviews, validated on
the 25,000 test reviews (the recipe's protocol), 10,000-word multi-hot vectors tokenized as fnnet's
loader does (:func:`seed_common.imdb_multi_hot`). Reports each model's epoch of lowest validation loss.

Keras 3 on its JAX backend. ``--quick``: 1,000 reviews per split, 100 words, bigger 64 units, 3 epochs,
batch 20, RMSprop lr 0.01 (the recipe's --quick numbers on real reviews).

Usage: /work/venv-peers/bin/python tools/seed_keras_imdb.py --data-dir ../shared/data
"""
import os
import time

import numpy as np
from seed_common import imdb_multi_hot, parser, report, require

PROGRAM = "seed_keras_imdb"


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    require(PROGRAM, "keras")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    from keras import layers, models, regularizers

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    words, bigger, epochs, batch, lr, limit = (100, 64, 3, 20, 0.01, 1000) if args.quick else \
        (10000, 512, 20, 512, 1e-3, 0)
    x_train, y_train, x_test, y_test = imdb_multi_hot(args.data_dir, num_words=words, limit=limit)

    def build(units, l2=False, dropout=False):
        model = models.Sequential()
        model.add(keras.Input((words,)))
        for _ in range(2):
            model.add(layers.Dense(units, activation='relu',
                                   kernel_regularizer=regularizers.l2(0.001) if l2 else None))
            if dropout:
                model.add(layers.Dropout(0.5))
        model.add(layers.Dense(1, activation='sigmoid'))
        model.compile(optimizer=keras.optimizers.RMSprop(lr), loss='binary_crossentropy', metrics=['accuracy'])
        return model

    result = {}
    for name, model in (("original", build(16)), ("smaller", build(8)), ("bigger", build(bigger)),
                        ("l2", build(16, l2=True)), ("dropout", build(16, dropout=True))):
        h = model.fit(x_train, y_train, epochs=epochs, batch_size=batch, validation_data=(x_test, y_test), verbose=0)
        val = np.asarray(h.history["val_loss"])
        result[name] = {"best_epoch": int(val.argmin()) + 1, "min_val_loss": round(float(val.min()), 4),
                        "final_val_loss": round(float(val[-1]), 4)}
    report(PROGRAM, start, f"Keras {keras.__version__} ({keras.backend.backend()}), {len(x_train)} reviews, "
           f"{words} words, {epochs} epochs, batch {batch}", result)


if __name__ == "__main__":
    main()
