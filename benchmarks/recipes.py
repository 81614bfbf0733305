#!/usr/bin/env python
"""Every recipe's wall time next to the wall time of the seed's own program, on the same machine and data,
in one run: a markdown table (recipe, fnnet s, seed program s, ratio, the result of each) on stdout and
in ``--out``.

    python benchmarks/recipes.py --data-dir ../shared/data --peer-python /work/venv-peers/bin/python --out t.md
    python benchmarks/recipes.py --quick --only housing_gd,planar   # a short smoke run (quick settings)

What is timed: each side in a cold process of its own, from start to exit, measured by this script
(process start-up, imports, data loading, compilation and training all included, as a user running the
command waits for them): ``python -m fnnet.cli run NAME --quiet`` for the recipe, and the seed's program
transcribed in ``tools/seed_*.py`` (numpy programs with this interpreter, Keras / PyTorch programs with
``--peer-python``, an interpreter that has them; without one those rows say so). The programs also report
their own time after imports (``tools/seed_common.py``), shown in brackets. Recipes and programs run one
after the other, never at the same time; the table gives the load averages before and after, since other
work on the machine slows both.

Where a recipe runs more than its seed's program (repeats, sweeps, extra rows) or less, the settings column
says what each side ran. Recipes whose seed gives no runnable program have no seed time.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Pair:
    """A recipe and the seed program it is measured against (``program=None``: none to run, ``why`` says why)."""

    recipe: str
    program: str | None = None
    peer: bool = False  # the program needs Keras or PyTorch (run with --peer-python)
    recipe_args: tuple = ()  # extra `fnnet run` arguments, full run
    program_args: tuple = ()
    quick_recipe_args: tuple = ()  # extra arguments with --quick
    quick_program_args: tuple = ()
    key_row: str = ""  # the recipe row (substring of its experiment) shown as its result
    why: str = ""
    note: str = ""  # what the two sides run, when it differs


SYNTHETIC_CIFAR = ("--set", "synthetic=true", "--set", "synthetic_train=5000", "--set", "synthetic_test=1000",
                   "--set", "epochs=2")
PAIRS = (
    Pair("linear_quadratic", "seed_linear_quadratic", key_row="momentum",
         note="20 data orders x 3 optimizers, 100 steps of batch 4 (quick: 1 order)"),
    Pair("planar", "seed_planar", key_row="cost after",
         note="recipe also: logistic regression, float32/float64 and course-init variants; both: n_h 4 for 10,000 "
              "iterations and the 7-size sweep of 5,000"),
    Pair("housing_gd", "seed_housing_gd", key_row="GD",
         note="recipe also: the 8-feature GD vs least squares table"),
    Pair("polynomial_overfit", "seed_polynomial", key_row="train MSE",
         note="recipe: exact fits, Adam 20,000 steps x 5 orders x 7 λ; "
              "program: lstsq + GD 20,000 steps x 5 orders x 2 λ"),
    Pair("init_scale", "seed_init_scale", key_row="497",
         note="recipe also: 10 draws, deep-network activation statistics; program: the article's 3 numbers"),
    Pair("mnist_mlp", "seed_keras_mnist_mlp", peer=True, key_row="validation accuracy",
         note="Keras 3 (JAX backend), the seed's model and fit; 50,000 / 10,000 split, 13 epochs, batch 32"),
    Pair("mnist_cnn", "seed_keras_mnist_cnn", peer=True, key_row="test accuracy",
         note="Keras 3 (JAX backend): Dense 100 and the Conv 25 CNN, 10 epochs, batch 128"),
    Pair("imdb_regularization", "seed_keras_imdb", peer=True, key_row="bigger",
         note="Keras 3 (JAX backend): 5 models, 20 epochs, batch 512"),
    Pair("cifar10_cnn", "seed_keras_cifar_cnn", peer=True, key_row="accuracy",
         recipe_args=SYNTHETIC_CIFAR, program_args=("--train", "5000", "--test", "1000", "--epochs", "2"),
         quick_recipe_args=("--set", "synthetic=true"),
         note="synthetic images of CIFAR's shapes (no CIFAR offline): 5,000 train / 1,000 test, 2 epochs "
              "(quick 256 / 64, "
              "1 epoch)"),
    Pair("jhui_mlp", "seed_torch_jhui_mlp", peer=True, key_row="test accuracy",
         note="PyTorch replica of the TF1 program: 10,000 steps of batch 100"),
    Pair("cs4487_table", why="seed 002 is lecture slides (Keras fragments, no whole program)"),
    Pair("optimizers", why="seed 003 shows animations, no program"),
    Pair("grid_search", why="seed 003 describes the search, no program"),
    Pair("ensemble", why="seed 003 describes ensembles, no program"),
    Pair("autoencoder", why="seed 002 lists the section, no program"),
    Pair("cifar10_fc", why="seed 003's numpy net needs the cs231n Solver (not shown) and CIFAR-10 (not offline)"),
)


@dataclasses.dataclass
class Timed:
    seconds: float | None = None  # wall time of the process
    inner: float | None = None  # the program's own report (after imports)
    result: str = ""
    failed: bool = False
    again: float | None = None  # a second run, with the compiled programs the first left in the cache
    before: float | None = None  # the same recipe from an older checkout (--old), a cold process


def _run(command: list, *, timeout: float, env: dict,
         cwd=REPO) -> tuple[float, subprocess.CompletedProcess | None, str]:
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, None, f"timed out after {timeout:.0f} s"
    return time.perf_counter() - start, done, ""


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure(done, error: str) -> str:
    if error:
        return error
    tail = (done.stderr or done.stdout).strip().splitlines()
    return f"failed (exit {done.returncode}): {tail[-1] if tail else ''}"


def time_recipe(pair: Pair, args, env: dict) -> Timed:
    """The recipe twice in cold processes: first with an empty compile cache (a first run), then again
    with the programs the first run left there (``fnnet run`` keeps them, see ``--no-compile-cache``)."""
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as cache:
        out = Path(args.keep) / pair.recipe if args.keep else Path(scratch)
        env = {**env, "FNNET_CACHE_DIR": cache}
        command = _recipe_command(pair, args, out)
        seconds, done, error = _run(command, timeout=args.timeout, env=env)
        if error or done.returncode != 0:
            return Timed(seconds, result=_short(_failure(done, error)), failed=True)
        # the second run writes elsewhere: --keep keeps the first (cold) run's results and times
        again, done_again, error = _run(_recipe_command(pair, args, Path(scratch) / "again"), timeout=args.timeout,
                                        env=env)
        again = again if not error and done_again.returncode == 0 else None
        rows = json.loads((out / "results.json").read_text()).get("rows", [])
    key_row = pair.key_row.lower()
    row = next((r for r in rows if key_row in str(r.get("experiment", "")).lower()), rows[0] if rows else {})
    result = _short(f"{row.get('experiment', '')}: {row.get('fnnet', '')}") if row else "no rows"
    return Timed(seconds, result=result, again=again, before=time_old_checkout(pair, args) if args.old else None)


def _recipe_command(pair: Pair, args, out) -> list:
    extra = pair.quick_recipe_args if args.quick else pair.recipe_args
    command = [args.python, "-m", "fnnet.cli", "run", pair.recipe, "--quiet", "--out", str(out), *extra]
    return command + ["--quick"] * args.quick + (["--data-dir", str(args.data_dir)] if args.data_dir else [])


def time_old_checkout(pair: Pair, args) -> float | None:
    """The same command from the checkout ``args.old`` (its own fnnet and recipes first on the path), a
    cold process with an empty compile cache; None when it fails there (e.g. a recipe it does not have)."""
    old = Path(args.old).resolve()
    env = {**os.environ, "PYTHONPATH": str(old)}
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as cache:
        env["FNNET_CACHE_DIR"] = cache
        seconds, done, error = _run(_recipe_command(pair, args, out), timeout=args.timeout, env=env, cwd=old)
    return None if error or done.returncode != 0 else seconds


def time_program(pair: Pair, args, env: dict) -> Timed:
    if pair.program is None:
        return Timed(result=f"no seed program: {pair.why}")
    python = args.peer_python if pair.peer else args.python
    if python is None:
        return Timed(result="not run: needs Keras/PyTorch; give --peer-python")
    extra = pair.quick_program_args if args.quick else pair.program_args
    command = [python, str(REPO / "tools" / f"{pair.program}.py"), *extra] + ["--quick"] * args.quick
    command += ["--data-dir", str(args.data_dir)] if args.data_dir else []
    seconds, done, error = _run(command, timeout=args.timeout, env=env)
    if error or done.returncode != 0:
        return Timed(seconds, result=_short(_failure(done, error)), failed=True)
    line = json.loads(done.stdout.strip().splitlines()[-1])
    if "skipped" in line:
        return Timed(result=_short(f"skipped: {line['skipped']}"))
    return Timed(seconds, line["seconds"], _short(json.dumps(line["result"]), 120))


def _seconds(timed: Timed) -> str:
    if timed.seconds is None:
        return "–"
    inner = f" [{timed.inner:.1f}]" if timed.inner is not None else ""
    again = f" / {timed.again:.1f}" if timed.again is not None else ""
    return f"{timed.seconds:.1f}{again}{inner}" + (" (failed)" if timed.failed else "")


def _load() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def table(results: list, args, load_before: str, load_after: str) -> str:
    when = datetime.datetime.now(datetime.timezone.utc)
    old = getattr(args, "old", None)
    lines = [
        (f"Measured {when:%Y-%m-%d %H:%M UTC} on {platform.node() or 'this machine'}: {os.cpu_count()} CPUs, Python "
         f"{platform.python_version()}; load average (1/5/15 min) {load_before} before, {load_after} after; "
         f"{'quick settings' if args.quick else 'full settings'}."),
        f"Command: `{' '.join(shlex.quote(a) for a in sys.argv)}`",
        "",
        "| recipe |" + (" before s (old checkout) | speed-up |" if old else "")
        + " fnnet s (first / again) | seed program s [own] | ratio | fnnet result | seed program result | what runs |",
        "|---|---|---|---|---|---|---|" + ("---|---|" if old else ""),
    ]
    for pair, ours, theirs in results:
        ratio = (f"{ours.seconds / theirs.seconds:.2f}" if ours.seconds and theirs.seconds
                 and not ours.failed and not theirs.failed else "–")
        program = f"`tools/{pair.program}.py`" if pair.program else ""
        before = ""
        if old:
            speedup = f"{ours.before / ours.seconds:.1f}x" if ours.before and ours.seconds and not ours.failed else "–"
            before = f" {ours.before:.1f} | {speedup} |" if ours.before else " failed there | – |"
        lines.append(f"| {pair.recipe} |{before} {_seconds(ours)} | {_seconds(theirs)} | {ratio} | {ours.result} | "
                     f"{program} {theirs.result} | {pair.note} |")
    lines += ["", ("fnnet s and seed program s: wall time of a cold process each (start-up, imports, data, compilation "
                   "and training); fnnet's first run starts from an empty compile cache, 'again' reuses what it "
                   "compiled; [own]: the program's own time after its imports. ratio = fnnet first run / seed "
                   "program." + (f" before s: the same command from the checkout {old} (a cold process, empty "
                                 "compile cache); speed-up = before / fnnet first run." if old else ""))]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("FNNET_DATA_DIR") or (REPO.parent / "shared" / "data"),
                   help="the shared datasets (default $FNNET_DATA_DIR, else ../shared/data)")
    p.add_argument("--python", default=sys.executable, help="interpreter with fnnet (default: this one)")
    p.add_argument("--peer-python", default=os.environ.get("FNNET_PEER_PYTHON"),
                   help="interpreter with Keras 3 / PyTorch for their programs (default $FNNET_PEER_PYTHON)")
    p.add_argument("--quick", action="store_true", help="quick settings on both sides (a smoke run, not a comparison)")
    p.add_argument("--only", default="", help="comma-separated recipe names (default: every recipe)")
    p.add_argument("--out", default=None, help="also write the markdown table to this file")
    p.add_argument("--old", default=None, metavar="CHECKOUT",
                   help="also time each recipe from an older checkout of fnnet (a `git worktree` of an old commit)")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="keep each recipe's outputs in DIR/NAME (results.json for `fnnet report`)")
    p.add_argument("--timeout", type=float, default=4 * 3600, help="seconds allowed per process")
    args = p.parse_args(argv)
    pairs = {pair.recipe: pair for pair in PAIRS}
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(pairs)
    unknown = [n for n in names if n not in pairs]
    if unknown:
        p.error(f"--only: unknown recipes {unknown}; known: {', '.join(pairs)}")
    if args.data_dir and not Path(args.data_dir).is_dir():
        print(f"note: data directory {args.data_dir} not found; recipes that need data report it", file=sys.stderr)
        args.data_dir = None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    load_before, results = _load(), []
    for name in names:
        pair = pairs[name]
        print(f"{name}: fnnet ...", file=sys.stderr, flush=True)
        ours = time_recipe(pair, args, env)
        print(f"{name}: seed program ...", file=sys.stderr, flush=True)
        theirs = time_program(pair, args, env)
        results.append((pair, ours, theirs))
    text = table(results, args, load_before, _load())
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 1 if any(o.failed or t.failed for _, o, t in results) else 0


if __name__ == "__main__":
    sys.exit(main())
