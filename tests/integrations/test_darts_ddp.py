"""DeepLinearModel under DDP on CPU (2 gloo processes): fit works, prediction returns every series.

Each case runs a script in a fresh interpreter: ``ddp`` relaunches ``sys.argv`` for rank 1, which
must be a script, not the pytest session.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("darts")

SCRIPT = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    from darts.utils.timeseries_generation import sine_timeseries
    from lightning_dln.integrations.darts import DeepLinearModel

    def main(strategy, out):
        series = [(sine_timeseries(length=60, value_frequency=0.05 * (i + 1)) + i)
                  .astype(np.float32) for i in range(5)]
        model = DeepLinearModel(
            12, 4, depth=2, n_epochs=1, batch_size=8, random_state=0,
            work_dir=os.path.dirname(out),
            pl_trainer_kwargs=dict(accelerator="cpu", devices=2, strategy=strategy,
                                   enable_progress_bar=False, logger=False,
                                   enable_model_summary=False))
        model.fit(series, val_series=series)
        world = model.trainer.world_size
        preds = model.predict(4, series=series)
        singles = [model.predict(4, series=s) for s in series]
        hfc = model.historical_forecasts(series, start=50, start_format="position",
                                         forecast_horizon=4, retrain=False,
                                         last_points_only=False)
        if int(os.environ.get("LOCAL_RANK", "0")) == 0:
            json.dump({
                "world_size_fit": world,
                "n_preds": len(preds),
                "starts_ok": all(p.start_time() == s.end_time() + s.freq
                                 for p, s in zip(preds, series)),
                "match_single": all(np.allclose(p.values(), q.values())
                                    for p, q in zip(preds, singles)),
                "finite": all(bool(np.isfinite(p.values()).all()) for p in preds),
                "hfc": [len(h) for h in hfc],
                "predict_devices": model.trainer.num_devices,
            }, open(out, "w"))

    if __name__ == "__main__":
        main(sys.argv[1], sys.argv[2])
''')


@pytest.mark.slow
@pytest.mark.ddp
@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_fit_under_ddp_then_predict_every_series(tmp_path, strategy):
    script = tmp_path / "ddp_fit.py"
    script.write_text(SCRIPT)
    out = tmp_path / "result.json"
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    env.pop("MASTER_PORT", None)
    proc = subprocess.run([sys.executable, str(script), strategy, str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["world_size_fit"] == 2  # the fit really ran on 2 processes
    assert result["predict_devices"] == 1  # prediction was routed to one device
    assert result["n_preds"] == 5 and result["starts_ok"] and result["finite"]
    assert result["match_single"]
    assert result["hfc"] == [60 - 50 - 4 + 1] * 5


def test_device_routing_rules():
    from lightning_dln.integrations.darts.devices import (
        single_device_trainer_params,
        uses_many_devices,
    )

    assert not uses_many_devices({"accelerator": "cpu"})
    assert not uses_many_devices({"accelerator": "cpu", "devices": 1})
    assert not uses_many_devices({"accelerator": "gpu", "devices": [1]})
    assert uses_many_devices({"accelerator": "cpu", "devices": 2})
    assert uses_many_devices({"accelerator": "gpu", "devices": [0, 1]})
    assert uses_many_devices({"accelerator": "gpu", "devices": "0,1"})
    assert uses_many_devices({"strategy": "ddp_spawn", "devices": 1})
    assert uses_many_devices({"num_nodes": 2})
    params = single_device_trainer_params(
        {"accelerator": "gpu", "devices": [2, 3], "strategy": "ddp", "max_epochs": 5,
         "callbacks": []}, verbose=False)
    assert params == {"accelerator": "gpu", "devices": [2], "max_epochs": 5, "callbacks": [],
                      "enable_progress_bar": False, "enable_model_summary": False}
    assert single_device_trainer_params({"devices": "1,2"})["devices"] == [1]
    assert single_device_trainer_params({"devices": 4})["devices"] == 1
