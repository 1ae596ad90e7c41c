"""The shared wall-clock helper of the speed benchmarks."""

import time

import pytest

from benchmarks.timing import wall_times


def test_wall_times_counts_warmup_calls_apart_and_measures_each_call():
    calls = []

    def sleepy():
        calls.append(1)
        time.sleep(0.01)

    times = wall_times(sleepy, repeats=3, device="cpu", warmup=2)
    assert len(calls) == 5 and len(times) == 3
    assert all(0.009 <= t < 1.0 for t in times)


@pytest.mark.parametrize(("repeats", "warmup", "name"), [(0, 1, "repeats"), (2, -1, "warmup")])
def test_wall_times_rejects_bad_counts(repeats, warmup, name):
    with pytest.raises(ValueError, match=name):
        wall_times(lambda: None, repeats=repeats, device="cpu", warmup=warmup)
