"""The ``fnnet`` command: list and run the course recipes.

    fnnet list                                  # every recipe with a one-line description
    fnnet run planar                            # the main job: runs offline in seconds
    fnnet run planar --quick                    # the seconds-long variant the tests use
    fnnet run cs4487_table --epochs 5 --set lr=0.01 --data-dir ../shared/data --out outputs/cs
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax


def _parse_settings(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        settings[name.strip()] = value.strip()
    return settings


def _print_rows(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def _json_default(obj):
    try:
        return obj.tolist()
    except AttributeError:
        return str(obj)


def cmd_list(args) -> int:
    import recipes

    for name in recipes.names():
        print(f"{name:22s} {recipes.load(name).DESCRIPTION}")
    return 0


def cmd_run(args) -> int:
    import recipes

    overrides = _parse_settings(args.set)
    if args.epochs is not None:
        overrides["epochs"] = str(args.epochs)
    out = Path(args.out) if args.out else Path("outputs") / args.name
    t0 = time.perf_counter()
    results = recipes.run(
        args.name, quick=args.quick, overrides=overrides, key=jax.random.key(args.seed),
        data_dir=args.data_dir, out_dir=out, verbose=not args.quiet,
    )
    seconds = time.perf_counter() - t0
    print()
    _print_rows(results.get("rows", []))
    for plot in results.get("plots", []):
        print(f"plot: {plot}")
    out.mkdir(parents=True, exist_ok=True)
    results = {**results, "wall_seconds": seconds, "quick": args.quick, "seed": args.seed}
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_json_default))
    print(f"results: {out / 'results.json'} ({seconds:.1f}s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fnnet", description="fnnet: functional deep learning on JAX")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list the recipes")
    p_list.set_defaults(func=cmd_list)

    p_run = sub.add_parser("run", help="run a recipe")
    p_run.add_argument("name", help="recipe name (see `fnnet list`)")
    p_run.add_argument("--quick", action="store_true", help="the seconds-long settings used by the tests")
    p_run.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p_run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a config setting")
    p_run.add_argument("--seed", type=int, default=0, help="PRNG seed for jax.random.key (default 0)")
    p_run.add_argument("--data-dir", default=None, help="folder with the real datasets (else FNNET_DATA_DIR)")
    p_run.add_argument("--out", default=None, help="folder for plots and results.json (default outputs/NAME)")
    p_run.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p_run.set_defaults(func=cmd_run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # bad names/settings: a one-line message, not a traceback
        print(f"fnnet: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
