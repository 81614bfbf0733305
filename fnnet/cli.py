"""The ``fnnet`` command: list and run the course recipes, and report their results.

    fnnet list                                  # every recipe with a one-line description
    fnnet run planar                            # the main job: runs offline in seconds
    fnnet run planar --quick                    # the seconds-long variant the tests use
    fnnet run cs4487_table --set dataset=mnist --data-dir ../shared/data --out outputs/cs
    fnnet run all --data-dir ../shared/data --report RESULTS.md      # every recipe, then the report
    fnnet run mnist_mlp jhui_mlp --report RESULTS.md                  # re-run two, update their sections
    fnnet report RESULTS.md outputs/*/results.json                   # the report from earlier runs' results
    fnnet doctor planar                         # train briefly with all monitors on, report what looks unhealthy
    fnnet doctor cs4487_table --quick --set rows=mlp_50 --out outputs/doctor
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from types import ModuleType

import jax

from fnnet import report


def load_recipes() -> ModuleType:
    """The recipes package: the checkout's ``recipes/`` folder when fnnet runs from a source checkout
    (``PYTHONPATH`` or an editable install, so a worktree runs its own recipes), else ``fnnet_recipes``, the
    name a wheel installs that folder under (a top-level ``recipes`` could be any other package)."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "recipes" / "__init__.py").is_file():
        try:
            import recipes
        except ImportError:  # an editable install maps only fnnet and fnnet_recipes
            recipes = None
        if recipes is not None and Path(recipes.__file__).resolve().parent == root / "recipes":
            return recipes
    return importlib.import_module("fnnet_recipes")


def _parse_settings(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        settings[name.strip()] = value.strip()
    return settings


def _json_default(obj):
    try:
        return obj.tolist()
    except AttributeError:
        return str(obj)


def cmd_list(args) -> int:
    recipes = load_recipes()

    for name in recipes.names():
        print(f"{name:22s} {recipes.load(name).DESCRIPTION}")
    return 0


def _recipe_names(requested: list[str]) -> list[str]:
    recipes = load_recipes()

    if "all" in requested:
        if len(requested) > 1:
            raise ValueError("'all' runs every recipe; give it alone, not with other names")
        return recipes.names()
    for name in requested:
        recipes.load(name)  # unknown names fail here, before anything runs
    return list(dict.fromkeys(requested))


def _setting_names(module) -> set[str]:
    return {f.name for f in dataclasses.fields(module.Config)}


def _settings_for(module, overrides: dict, several: bool) -> dict:
    """The ``--set``/``--epochs`` settings that apply to ``module``. With several recipes a setting goes
    to the recipes that have it (``cmd_run`` checks that at least one does); with one, all must apply."""
    if not several:
        return overrides
    return {k: v for k, v in overrides.items() if k in _setting_names(module)}


def _command_line(argv: list[str]) -> str:
    """The command as typed, with ``FNNET_DATA_DIR`` when the data location came from the environment."""
    command = "fnnet " + shlex.join(argv)
    env = os.environ.get("FNNET_DATA_DIR")
    if env and "--data-dir" not in argv:
        command = f"FNNET_DATA_DIR={shlex.quote(env)} " + command
    return command


def _saved_run(name: str, module, results: dict, *, args, command: str, machine_info: dict,
               seconds: float) -> dict:
    """``results`` (less the figures, already written as the PNGs ``results["plots"]``) plus what a report
    entry needs (``report.SAVED_RUN_KEYS``): written as results.json."""
    results = {k: v for k, v in results.items() if k != "figures"}
    return {**results, "recipe": name, "description": module.DESCRIPTION, "command": command,
            "machine": machine_info, "finished": report.now_utc(), "wall_seconds": round(seconds, 1),
            "quick": args.quick, "seed": args.seed}


def _run_one(name: str, module, args, overrides: dict, out: Path, *, command: str) -> dict:
    """Runs one recipe, prints its table and writes ``out/results.json``; returns the saved run."""
    recipes = load_recipes()

    machine_info = report.machine()
    t0 = time.perf_counter()
    results = recipes.run(
        name, quick=args.quick, overrides=overrides, key=jax.random.key(args.seed),
        data_dir=args.data_dir, out_dir=out, verbose=not args.quiet,
    )
    saved = _saved_run(name, module, results, args=args, command=command, machine_info=machine_info,
                       seconds=time.perf_counter() - t0)
    print()
    print(report.text_table(results.get("rows", [])))
    for plot in results.get("plots", []):
        print(f"plot: {plot}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(saved, indent=2, default=_json_default))
    print(f"results: {out / 'results.json'} ({saved['wall_seconds']:.1f}s)")
    return saved


def _setting_text(value) -> str:
    """A setting's value as ``--set NAME=VALUE`` takes it: tuples comma-separated, flags true/false."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(_setting_text, value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def settings_help(name: str) -> str:
    """``fnnet run NAME --help``'s part about the recipe: its description, every setting with its default,
    its ``--quick`` value and what it accepts, and the relations between settings."""
    recipes = load_recipes()

    module = recipes.load(name)
    rows = [{"setting": r.name, "default": _setting_text(r.default),
             "--quick": _setting_text(r.quick) if r.quick != r.default else "(same)", "accepts": r.allowed}
            for r in recipes.settings_table(name)]
    lines = [f"recipe {name}: {module.DESCRIPTION}", "", "settings (--set NAME=VALUE):", report.text_table(rows)]
    relations = getattr(module, "RELATIONS", ())
    if relations:
        lines += ["", "and:"] + [f"  {relation.text}" for relation in relations]
    return "\n".join(lines)


def use_compile_cache(directory=None) -> Path:
    """Keeps XLA's compiled programs on disk (jax's persistent compilation cache), so that running a
    recipe again compiles nothing: ``directory``, else ``$FNNET_CACHE_DIR``, else ``~/.cache/fnnet/xla``.
    Only ``fnnet run`` turns it on; the library itself never writes outside what it is given."""
    import jax

    folder = Path(directory or os.environ.get("FNNET_CACHE_DIR") or Path.home() / ".cache" / "fnnet" / "xla")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a read-only home: run without the cache rather than fail
        print(f"fnnet: no compile cache ({err.strerror}: {folder})", file=sys.stderr)
        return folder
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def cmd_run(args) -> int:
    recipes = load_recipes()

    if args.help:
        names = _recipe_names(args.names) if args.names else []
        print(args.parser.format_help())
        for name in names:
            print(settings_help(name) + "\n")
        return 0
    if not args.names:
        args.parser.error("give the recipe(s) to run: fnnet run NAME [NAME ...] (see `fnnet list`), or `all`")
    names = _recipe_names(args.names)
    several = len(names) > 1
    overrides = _parse_settings(args.set)
    if not args.no_compile_cache:
        use_compile_cache()
    if args.epochs is not None:
        overrides["epochs"] = str(args.epochs)
    if several:
        settable = set().union(*(_setting_names(recipes.load(n)) for n in names))
        unused = sorted(set(overrides) - settable)
        if unused:
            raise ValueError(f"no recipe among {', '.join(names)} has the setting(s) {', '.join(unused)}")
    command = _command_line(args.argv)
    entries, failed = [], []
    for name in names:
        module = recipes.load(name)
        out = (Path(args.out) / name if several else Path(args.out)) if args.out else Path("outputs") / name
        if several:
            print(f"\n=== {name}: {module.DESCRIPTION}")
        t0 = time.perf_counter()
        try:
            saved = _run_one(name, module, args, _settings_for(module, overrides, several), out, command=command)
        except Exception as err:  # with several recipes one failure must not lose the others
            if not several:
                raise
            failed.append(name)
            print(f"fnnet: {name} failed: {type(err).__name__}: {err}", file=sys.stderr)
            results = {"rows": [{"experiment": f"{name} (the run failed)", "seed": "-",
                                 "fnnet": f"error: {type(err).__name__}: {err}"}], "data": "-"}
            saved = _saved_run(name, module, results, args=args, command=command, machine_info=report.machine(),
                               seconds=time.perf_counter() - t0)
        entries.append(report.entry_from_saved_run(saved))
    if args.report:
        path = report.write_report(args.report, entries, replace=args.names == ["all"], order=recipes.names())
        print(f"report: {path}")
    if failed:
        print(f"fnnet: failed recipes: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_report(args) -> int:
    """Adds saved runs (``results.json`` files of ``fnnet run``) to the markdown report at ``args.path``."""
    recipes = load_recipes()

    entries = []
    for file in args.files:
        try:
            saved = json.loads(Path(file).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"results file {file}: expected a results.json written by `fnnet run` ({err})") from err
        entries.append(report.entry_from_saved_run(saved))
    path = report.write_report(args.path, entries, replace=False, order=recipes.names())
    print(f"report: {path} ({', '.join(e['name'] for e in entries)})")
    return 0


def cmd_doctor(args) -> int:
    """Runs :func:`fnnet.diagnostics.diagnose` on a recipe's ``diagnose_setup`` and prints the report."""
    recipes = load_recipes()
    from fnnet import diagnostics

    module = recipes.load(args.name)
    if not hasattr(module, "diagnose_setup"):
        supported = [n for n in recipes.names() if hasattr(recipes.load(n), "diagnose_setup")]
        raise ValueError(f"recipe {args.name!r} has no diagnose_setup; fnnet doctor supports: {', '.join(supported)}")
    config = recipes.make_config(module, quick=args.quick, overrides=_parse_settings(args.set))
    key = jax.random.key(args.seed)
    setup_key, run_key = jax.random.split(key)
    setup = module.diagnose_setup(config, key=setup_key, data_dir=args.data_dir)
    steps = args.steps if args.steps is not None else (100 if args.quick else 300)
    report = diagnostics.diagnose(setup, key=run_key, steps=steps, overfit_steps=100 if args.quick else 200,
                                  lr_range_steps=60 if args.quick else 120, out_dir=args.out)
    print(report)
    for plot in report.plots:
        print(f"plot: {plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fnnet", description="fnnet: functional deep learning on JAX")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list the recipes")
    p_list.set_defaults(func=cmd_list)

    # `fnnet run NAME --help` also lists the recipe's settings: -h is handled by cmd_run, after the names.
    p_run = sub.add_parser("run", help="run a recipe", add_help=False)
    p_run.add_argument("-h", "--help", action="store_true",
                       help="show this help; with recipe names, also their settings, defaults and --quick values")
    p_run.add_argument("names", nargs="*", metavar="NAME", help="recipe name(s) (see `fnnet list`), or `all`")
    p_run.add_argument("--quick", action="store_true", help="the seconds-long settings used by the tests")
    p_run.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p_run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a config setting")
    p_run.add_argument("--seed", type=int, default=0, help="PRNG seed for jax.random.key (default 0)")
    p_run.add_argument("--data-dir", default=None, help="folder with the real datasets (else FNNET_DATA_DIR)")
    p_run.add_argument("--out", default=None,
                       help="folder for plots and results.json (default outputs/NAME; with several recipes OUT/NAME)")
    p_run.add_argument("--report", default=None, metavar="PATH",
                       help="write a markdown report (e.g. RESULTS.md): `all` rewrites it, named recipes update "
                            "their sections")
    p_run.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p_run.add_argument("--no-compile-cache", action="store_true",
                       help="do not keep compiled programs between runs (default: in $FNNET_CACHE_DIR, else "
                            "~/.cache/fnnet/xla)")
    p_run.set_defaults(func=cmd_run, parser=p_run)

    p_report = sub.add_parser("report", help="add saved runs (results.json of `fnnet run`) to a markdown report")
    p_report.add_argument("path", metavar="PATH",
                          help="the report (e.g. RESULTS.md): these recipes' sections are replaced")
    p_report.add_argument("files", nargs="+", metavar="RESULTS_JSON", help="results.json files written by `fnnet run`")
    p_report.set_defaults(func=cmd_report)

    p_doctor = sub.add_parser("doctor", help="train a recipe's model briefly with all monitors on and report what "
                                             "looks unhealthy (gradient check, overfit test, LR range test, "
                                             "per-layer statistics)")
    p_doctor.add_argument("name", metavar="NAME", help="a recipe with diagnose_setup (e.g. planar, cs4487_table)")
    p_doctor.add_argument("--quick", action="store_true", help="the recipe's quick settings and fewer steps")
    p_doctor.add_argument("--steps", type=int, default=None, help="monitored training steps (default 300, quick 100)")
    p_doctor.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a config setting")
    p_doctor.add_argument("--seed", type=int, default=0, help="PRNG seed for jax.random.key (default 0)")
    p_doctor.add_argument("--data-dir", default=None, help="folder with the real datasets (else FNNET_DATA_DIR)")
    p_doctor.add_argument("--out", default=None, help="also write the doctor's plots (PNG) to this folder")
    p_doctor.set_defaults(func=cmd_doctor)

    # --- `fnnet exercises` / `fnnet check` live in fnnet/exercises/cli.py (issue 16) ---
    from fnnet.exercises import cli as exercises_cli

    exercises_cli.add_subcommands(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except ValueError as err:  # bad names/settings: a one-line message, not a traceback
        print(f"fnnet: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
