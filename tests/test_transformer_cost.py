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
    monkeypatch.setattr(transformer_cost, "seconds_per_window",
                        lambda h, n, kv_cache: 0.5 if kv_cache else 2.0)
    out = transformer_cost.main(["--horizons", "96", "--out", str(tmp_path / "cost.md")])
    text = out.read_text().splitlines()
    darts_row = next(line for line in text if line.startswith("| 96 | darts |"))
    cached_row = next(line for line in text if line.startswith("| 96 | kv_cache |"))
    # full.yaml: 3 epochs x 10 validation batches x 32 windows = 960, then 1,000 test windows
    assert darts_row.split(" | ")[2:5] == ["2.000", "1.0x", f"{2.0 * (960 + 1000) / 3600:.2f}"]
    assert cached_row.split(" | ")[2:5] == ["0.500", "4.0x", f"{0.5 * (960 + 1000) / 3600:.2f}"]
    assert darts_row.split(" | ")[5] == "-"  # ETTm1 has no ok row at H = 96 in this CSV


@pytest.mark.parametrize("kv_cache", [False, True])
def test_predict_of_a_real_darts_transformer_is_timed(kv_cache):
    assert transformer_cost.seconds_per_window(horizon=4, windows=2, kv_cache=kv_cache) > 0


@pytest.mark.parametrize("argv", [["--windows", "0"], ["--horizons", "0"]])
def test_bad_arguments_are_rejected(argv, tmp_path):
    with pytest.raises(ValueError, match=argv[0]):
        transformer_cost.main([*argv, "--out", str(tmp_path / "x.md")])
