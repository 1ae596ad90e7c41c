"""The darts Transformer decode-cost estimate (benchmarks/transformer_cost.py)."""

import csv

import pytest

from benchmarks import transformer_cost


def test_cell_estimate_is_seconds_per_window_times_validation_plus_test_windows(
        tmp_path, monkeypatch):
    runs = tmp_path / "runs.csv"
    with runs.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["dataset", "horizon", "status", "n_test_windows"])
        writer.writeheader()
        writer.writerow({"dataset": "ETTh1", "horizon": 96, "status": "ok",
                         "n_test_windows": 1000})
        writer.writerow({"dataset": "ETTm1", "horizon": 96, "status": "error",
                         "n_test_windows": ""})
    monkeypatch.setattr(transformer_cost, "RUNS", runs)
    monkeypatch.setattr(transformer_cost, "seconds_per_window", lambda h, n: 2.0)
    out = transformer_cost.main(["--horizons", "96", "--out", str(tmp_path / "cost.md")])
    row = next(line for line in out.read_text().splitlines() if line.startswith("| 96 |"))
    # full.yaml: 3 epochs x 10 validation batches x 32 windows = 960, then 1,000 test windows
    assert row.split(" | ")[1:3] == ["2.000", f"{2.0 * (960 + 1000) / 3600:.2f}"]
    assert row.split(" | ")[3] == "-"  # ETTm1 has no ok row at H = 96 in this CSV


def test_predict_of_a_real_darts_transformer_is_timed():
    assert transformer_cost.seconds_per_window(horizon=4, windows=2) > 0


@pytest.mark.parametrize("argv", [["--windows", "0"], ["--horizons", "0"]])
def test_bad_arguments_are_rejected(argv, tmp_path):
    with pytest.raises(ValueError, match=argv[0]):
        transformer_cost.main([*argv, "--out", str(tmp_path / "x.md")])
