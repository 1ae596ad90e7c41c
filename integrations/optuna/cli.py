"""``lightning-dln tune``: run or resume an Optuna study from a tuning YAML.

Usage::

    lightning-dln tune --config configs/tune/etth1_dln.yaml [--n-trials N] [--timeout S]
        [--storage URL] [--study-name NAME] [--quick] [--output-dir DIR] [--no-plots]

Storage URLs: ``sqlite:///path.db`` (default ``sqlite:///<output_dir>/<study>.db``), any
SQLAlchemy URL such as ``postgresql+psycopg://user:pw@host:5432/db``, or
``journal:///abs/path.log`` / ``journal://rel/path.log`` (Optuna's JournalFileBackend, several
processes on one host). Start the same command in several shells (or hosts, with a database
server) to run workers in parallel; re-running resumes. At the end each worker writes the best
trial's config (``best.yaml``: ``lightning-dln fit --config best.yaml``), ``trials.csv`` and the
plots ``history.png``, ``importances.png``, ``parallel_coordinate.png`` to the output folder.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .config import TuneConfig


def parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``lightning-dln tune``."""
    p = argparse.ArgumentParser(prog="lightning-dln tune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="tuning YAML (configs/tune/*.yaml)")
    p.add_argument("--n-trials", type=int, default=None,
                   help="target of finished trials in the study (all workers together)")
    p.add_argument("--timeout", type=float, default=None, help="stop this worker after S s")
    p.add_argument("--storage", default=None, help="storage URL (see above; default SQLite)")
    p.add_argument("--study-name", default=None, help="study name (default: from the YAML)")
    p.add_argument("--quick", action="store_true", help="apply the YAML's 'quick' section")
    p.add_argument("--output-dir", default=None, help="where best.yaml and plots go")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return p


def main(argv: list[str] | None = None) -> None:
    """Run ``lightning-dln tune`` with ``argv`` (without the ``tune`` word).

    Configuration errors (unknown model, bad search space, unreachable storage, missing data)
    exit with status 2 and one line of explanation, before any trial starts.
    """
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        from ._deps import optuna  # noqa: F401  (the install hint comes first)
        from .export import export_best, write_plots
        from .runner import FINISHED, count, run_study

        cfg = TuneConfig.from_yaml(args.config, quick=args.quick, n_trials=args.n_trials,
                                   timeout=args.timeout, storage=args.storage,
                                   name=args.study_name)
        if args.output_dir:
            cfg.output_dir = args.output_dir
        study = run_study(cfg)
    except (ValueError, ImportError, RuntimeError) as err:
        raise SystemExit(f"lightning-dln tune: error: {err}") from None
    pruned = count(study, (FINISHED[1],))
    print(f"study {cfg.study_name!r} ({cfg.model}) in {cfg.storage_url}: "
          f"{count(study, FINISHED) - pruned} complete, {pruned} pruned, "
          f"{len(study.trials)} trials in all")
    try:
        best = study.best_trial
    except ValueError:
        print("no complete trial yet")
        return
    print(f"best trial {best.number}: val_mse={best.value:.6g} params={best.params}")
    print(f"best config: {export_best(study, cfg)}")
    if not args.no_plots:
        for path in write_plots(study, cfg.output_dir):
            print(f"plot: {path}")
