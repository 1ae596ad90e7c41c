"""Command line of the harness: ``python -m benchmarks.harness --grid FILE --out DIR``.

``--quick`` runs ``benchmarks/grids/quick.yaml`` (ETTh1, H = 96, a handful of models, one seed).
Re-running the same command resumes: recorded cells are skipped. ``--report-only`` rebuilds
``results.md``, ``summary.csv``, ``coverage.md`` (what ran, failed, is missing; compute) and
the figures from the CSV. ``--merge A.csv B.csv`` folds
the runs CSVs of other processes or machines into ``<out>/runs.csv`` first (one row per
dataset/horizon/model/seed: an ok row beats a failed one, the later run beats the earlier), so
a grid can be split with ``--models``/``--datasets``/``--horizons``/``--seeds`` over
several ``--out`` folders.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.harness.coverage import write_coverage
from benchmarks.harness.grid import load_grid, merge_rows, quiet, run_grid
from benchmarks.harness.report import write_report

GRIDS = Path(__file__).resolve().parents[1] / "grids"
RESULTS = Path("benchmarks/results/harness")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness", description=__doc__)
    parser.add_argument("--grid", type=Path, help="grid YAML (default: quick.yaml with --quick)")
    parser.add_argument("--quick", action="store_true", help="run benchmarks/grids/quick.yaml")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder, default benchmarks/results/harness/<grid name>; "
                             "the CSV is <out>/runs.csv")
    parser.add_argument("--data-dir", default=None,
                        help="folder of the LTSF CSVs (default: $LIGHTNING_DLN_DATA)")
    parser.add_argument("--models", nargs="*", help="run only these model names")
    parser.add_argument("--datasets", nargs="*", help="run only these datasets")
    parser.add_argument("--horizons", nargs="*", type=int, help="run only these horizons")
    parser.add_argument("--seeds", nargs="*", type=int,
                        help="run only these seeds (exact models have only the grid's first)")
    parser.add_argument("--retry-errors", action="store_true", help="re-run failed cells")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                        help="one spawned process per cell (default: the grid's 'isolate')")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report")
    parser.add_argument("--merge", nargs="+", type=Path, default=[], metavar="CSV",
                        help="fold these runs CSVs into <out>/runs.csv before running")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.grid is None:
        if not args.quick:
            parser.error("give --grid FILE or --quick")
        args.grid = GRIDS / "quick.yaml"
    return args


def main(argv: list[str] | None = None) -> list[Path]:
    """Run (or resume) a grid, then write its report; returns the report's paths."""
    args = parse_args(argv)
    quiet()
    grid = load_grid(args.grid)
    name = str(grid.get("name", args.grid.stem))
    args.out = args.out or RESULTS / name
    csv_path = args.out / "runs.csv"
    title = f"Harness results: grid '{name}'"
    notes = grid.get("notes", "")
    order = [m["name"] for m in grid["models"]]

    def tables(path: Path) -> None:  # markdown + summary after every cell; figures at the end
        write_report(path, args.out, title, notes, figures=False, models=order)

    if args.merge:
        merge_rows(csv_path, args.merge)
    if not args.report_only:
        csv_path = run_grid(grid, args.out, args.data_dir, args.models, args.datasets,
                            args.retry_errors, args.isolate, progress=not args.no_progress,
                            after_cell=tables, horizons=args.horizons,
                            seeds=args.seeds)
    paths = write_report(csv_path, args.out, title, notes, models=order)
    return [*paths, write_coverage(grid, csv_path, args.out, f"grid '{name}'")]


if __name__ == "__main__":
    try:
        main()
    except ValueError as err:  # a bad grid, filter or data path: one line, no traceback
        raise SystemExit(f"python -m benchmarks.harness: error: {err}") from None
