"""Seed 003 (jhui, part 2), "Model ensembles": MNIST MLPs from different seeds, combined by vote,
confidence-weighted vote and probability averaging, vs the best single model; and a snapshot ensemble
from the checkpoints of ONE run.

"In DL, we start training with random guesses ... and the optimized models are not unique. We pick the
best models after many runs using the validation dataset. We take votes from those models ... This
method requires running multiple sessions, and can be prohibitively expensive. Alternatively, we run the
training once and checkpoints multiple models." The seed gives no numbers for this section.

Members: the seed's MLP 784-256-100-10 (relu, truncated-normal He init), Adam 1e-3 with the seed's L2
(``lmbda * l2_loss(W)`` = coupled ``l2=lmbda`` in the optimizer), batch 100; all ``n_members`` trained as
ONE vmapped program (``fnnet.ensemble.fit_ensemble``), each with its own key: its own initialization and
its own data order. The best single model is chosen on the validation split (the first 5,000 training
images, as ``input_data.read_data_sets`` keeps them), as the seed says; all accuracies are on the
10,000 test images. The snapshot ensemble trains one more model with a cosine learning rate restarted
every ``snapshot_every`` epochs (SGDR; Huang et al.'s snapshot ensembles) and keeps its weights at the
end of every cycle.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import jax
import numpy as np
import optax

import fnnet
from fnnet import optim, viz
from fnnet.data import DatasetNotFoundError
from fnnet.ensemble import Snapshots, accuracies, class_probabilities, evaluate_ensemble, fit_ensemble, predict_members

from . import _jhui_mnist
from . import _settings as V
from . import _support as S

DESCRIPTION = "MNIST MLP ensembles: vote vs weighted vote vs average vs best single; snapshot ensemble (seed 003)"


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "mnist"
    validation_size: int = 5_000
    n_members: int = 8
    hidden: tuple = (256, 100)
    learning_rate: float = 1e-3
    l2: float = 5e-5  # the seed's lmbda on tf.nn.l2_loss
    batch_size: int = 100
    epochs: int = 10
    snapshot_every: int = 2  # epochs per cosine cycle of the snapshot run; one snapshot per cycle
    chunk: int = 0  # members per program (0: all at once)


QUICK = dict(dataset="mnist_small", validation_size=500, n_members=4, epochs=4, hidden=(64, 32))

#: What each setting accepts, checked before the recipe runs (see recipes._settings).
SETTINGS = {
    "dataset": V.choice(*V.MNIST_LIKE),
    "validation_size": V.integer(1),
    "n_members": V.integer(1),
    "hidden": V.items(V.integer(1)),
    "learning_rate": V.positive(),
    "l2": V.number(0),
    "batch_size": V.integer(1),
    "epochs": V.integer(1),
    "snapshot_every": V.integer(1, note="epochs per cycle"),
    "chunk": V.integer(0, note="0: all members at once"),
}
RELATIONS = [V.batch_fits_data(limit=None)]


def _accuracy_bars(labels: list, values: list, title: str) -> viz.Figure:
    """Test accuracies as labelled bars: the members (blue), then the three ensembles (orange)."""
    fig, ax = viz.subplots(figsize=(max(6, 0.6 * len(labels)), 4))
    colors = ["tab:blue"] * (len(values) - 3) + ["tab:orange"] * 3
    bars = ax.bar(range(len(values)), np.asarray(values) * 100, color=colors)
    ax.bar_label(bars, fmt="%.2f", fontsize=7)
    low = min(values) * 100
    ax.set_ylim(max(0, low - 2), min(100, max(values) * 100 + 1))
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def run(config: Optional[Config] = None, *, key, data_dir=None, out_dir=None, verbose: bool = True) -> dict:
    """Trains the ensemble and the snapshot run; returns the results dict (accuracies per method)."""
    config = config or Config()
    out = Path(out_dir or "outputs/ensemble")
    say = S.reporter(verbose)
    try:
        train, validation, test, data_note = _jhui_mnist.splits(config.dataset, config.validation_size, data_dir)
    except DatasetNotFoundError as err:
        return S.not_available(err, data_dir, say,
                               (f"{config.n_members} MLPs: ensemble vs best single", "a few points up"))
    say(f"data: {data_note}")
    model = _jhui_mnist.mlp(config.hidden)
    ensemble_key, snapshot_key = jax.random.split(key)

    # 1. n_members MLPs in one vmapped program.
    state, history = fit_ensemble(
        model, "softmax_cross_entropy", optim.optimizer("adam", config.learning_rate, l2=config.l2), train,
        n_members=config.n_members, key=ensemble_key, epochs=config.epochs, batch_size=config.batch_size,
        validation_data=validation, metrics=["accuracy"], options=fnnet.TrainOptions(chunk=config.chunk or None),
        verbose=verbose,
    )
    seconds = sum(history.epoch_times)
    probabilities = class_probabilities(predict_members(model, state, test[0]))  # (members, examples, classes)
    scores = accuracies(probabilities, test[1])
    best_by_validation = int(np.argmax(history.last()["val_accuracy"]))
    best_single = float(scores["members"][best_by_validation])
    say(f"{config.n_members} members trained in one program: {seconds:.1f}s of epochs "
        f"(+{history.compile_time:.1f}s compile)")
    for i, acc in enumerate(scores["members"]):
        say(f"  member {i}: test accuracy {acc:.2%}" + ("  <- best on validation" if i == best_by_validation else ""))
    for method in ("vote", "weighted_vote", "average"):
        say(f"ensemble by {method}: {scores[method]:.2%}")
    sizes = list(range(1, config.n_members + 1))
    by_size = {method: [accuracies(probabilities[:k], test[1], methods=[method])[method] for k in sizes]
               for method in ("vote", "weighted_vote", "average")}

    # 2. A snapshot ensemble: one run, cosine learning rate restarted every snapshot_every epochs.
    steps_per_epoch = -(-len(train[0]) // config.batch_size)
    cycle = config.snapshot_every * steps_per_epoch
    cycles = max(1, config.epochs // config.snapshot_every)
    schedule = optax.sgdr_schedule([dict(init_value=config.learning_rate, peak_value=config.learning_rate,
                                         warmup_steps=0, decay_steps=cycle, end_value=0.0)] * cycles)
    snapshots = Snapshots(every=config.snapshot_every, monitor="val_accuracy")
    fnnet.fit(model, "softmax_cross_entropy", optim.optimizer("adam", schedule, l2=config.l2), train,
              key=snapshot_key, epochs=cycles * config.snapshot_every, batch_size=config.batch_size,
              validation_data=validation, metrics=["accuracy"], callbacks=[snapshots], verbose=0)
    snapshot_params, _ = snapshots.stacked()
    snapshot_scores = evaluate_ensemble(model, snapshot_params, *test)
    say(f"snapshot run: {len(snapshots)} snapshots (epochs {[e + 1 for e in snapshots.epochs]}), test accuracies "
        + ", ".join(f"{a:.2%}" for a in snapshot_scores["members"]))
    say(f"snapshot ensemble: vote {snapshot_scores['vote']:.2%}, weighted vote {snapshot_scores['weighted_vote']:.2%}, "
        f"average {snapshot_scores['average']:.2%} (last snapshot alone {snapshot_scores['members'][-1]:.2%})")

    labels = [f"member {i}" for i in range(config.n_members)] + ["vote", "weighted vote", "average"]
    values = list(scores["members"]) + [scores["vote"], scores["weighted_vote"], scores["average"]]
    methods = ("vote", "weighted_vote", "average")
    figures = {
        "ensemble_accuracy.png": _accuracy_bars(labels, values, f"{config.n_members} MLPs vs their ensembles"),
        "accuracy_vs_members.png": viz.plot_curves(
            {f"ensemble by {m}": v for m, v in by_size.items()}
            | {"best single member (validation)": [best_single] * len(sizes)},
            start=1, xlabel="ensemble size (members 0..k-1)", ylabel="test accuracy"),
        "member_curves.png": viz.plot_history(history, title=f"{config.n_members} members: faint, their mean: bold"),
        "snapshot_accuracy.png": _accuracy_bars(
            [f"snapshot {e + 1}" for e in snapshots.epochs] + ["vote", "weighted vote", "average"],
            list(snapshot_scores["members"]) + [snapshot_scores[m] for m in methods],
            "snapshots of one run (cosine restarts) vs their ensembles"),
    }
    pct = lambda v: f"{v:.2%}"
    rows = [
        {"experiment": "members: test accuracy min / mean / max", "seed": "-",
         "fnnet": f"{pct(scores['members'].min())} / {pct(scores['mean_member'])} / {pct(scores['members'].max())}"},
        {"experiment": "best single member (chosen on validation)", "seed": "-", "fnnet": pct(best_single)},
        {"experiment": "ensemble: one vote per model", "seed": "a few points up", "fnnet": pct(scores["vote"])},
        {"experiment": "ensemble: confidence-weighted vote", "seed": "a few points up",
         "fnnet": pct(scores["weighted_vote"])},
        {"experiment": "ensemble: average of probabilities", "seed": "-", "fnnet": pct(scores["average"])},
        {"experiment": "snapshot ensemble of one run (average)", "seed": "checkpoints of one run",
         "fnnet": f"{pct(snapshot_scores['average'])} (last snapshot {pct(snapshot_scores['members'][-1])})"},
    ]
    return {
        "rows": rows,
        "data": data_note,
        "members": scores["members"].tolist(),
        "best_single": best_single,
        "vote": scores["vote"],
        "weighted_vote": scores["weighted_vote"],
        "average": scores["average"],
        "accuracy_by_members": by_size,
        "snapshot": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in snapshot_scores.items()},
        "train_seconds": seconds,
        "plots": viz.save_figures(figures, out),
        "figures": figures,
    }
