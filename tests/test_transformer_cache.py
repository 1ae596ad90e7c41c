"""KV-cached decoding of darts' TransformerModel (benchmarks/harness/adapters/transformer_cache.py).

The reference is darts' own autoregressive loop on the same trained model: the cache must give
the same forecasts (to float32 rounding), leave training untouched, fall back to darts' code for
decoders it does not mirror, and restore darts' forward when the block exits.
"""

import logging
import warnings

import numpy as np
import pytest
import torch

darts = pytest.importorskip("darts")
from darts import TimeSeries  # noqa: E402
from darts.models import TransformerModel  # noqa: E402
from darts.models.forecasting.transformer_model import _TransformerModule  # noqa: E402

from benchmarks.harness.adapters import transformer_cache  # noqa: E402
from benchmarks.harness.adapters.transformer_cache import kv_cached_decoding  # noqa: E402

L, H, C = 24, 12, 3


def _series(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    return (np.sin(t / 5 + np.arange(C)) + 0.1 * rng.standard_normal((rows, C))).astype(
        np.float32)


def _fitted(**kwargs) -> TransformerModel:
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    model = TransformerModel(
        input_chunk_length=L, output_chunk_length=H, batch_size=16, n_epochs=1,
        d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32,
        random_state=0, pl_trainer_kwargs={
            "accelerator": "cpu", "limit_train_batches": 20, "logger": False,
            "enable_progress_bar": False, "enable_model_summary": False}, **kwargs)
    model.fit(TimeSeries.from_values(_series(400)), verbose=False)
    return model


def _forecast(model: TransformerModel) -> np.ndarray:
    values = _series(200, seed=1)
    windows = [TimeSeries.from_values(values[i:i + L]) for i in range(0, 160, 8)]
    out = model.predict(n=H, series=windows, batch_size=8, verbose=False, show_warnings=False)
    return np.stack([s.values() for s in out])


@pytest.mark.parametrize("kwargs", [{"use_reversible_instance_norm": True},
                                    {"norm_type": "LayerNorm", "activation": "gelu"}])
def test_cached_decoding_gives_darts_forecasts(kwargs):
    model = _fitted(**kwargs)
    reference = _forecast(model)  # darts' own O(H^2) loop
    with kv_cached_decoding():
        cached = _forecast(model)
    assert cached.shape == reference.shape == (20, H, C)
    np.testing.assert_allclose(cached, reference, rtol=0, atol=1e-5)
    assert not np.allclose(reference, reference[:1])  # windows differ: the check can fail


def test_cache_is_used_and_darts_forward_is_restored(monkeypatch):
    model = _fitted()
    darts_forward = _TransformerModule.__dict__["forward"]
    steps = []
    real_step = transformer_cache._LayerCache.step
    monkeypatch.setattr(transformer_cache._LayerCache, "step",
                        lambda self, x: steps.append(x.shape) or real_step(self, x))
    with kv_cached_decoding():
        assert _TransformerModule.__dict__["forward"] is not darts_forward
        _forecast(model)
    assert _TransformerModule.__dict__["forward"] is darts_forward
    # one token per step and layer: H steps x 2 decoder layers x 3 predict batches of 8
    assert len(steps) == H * 2 * 3 and all(s[0] == 1 for s in steps)


def test_unsupported_decoders_and_training_use_darts_code():
    model = _fitted(activation="SwiGLU")  # darts' custom GLU layers: not mirrored
    module = model.model
    assert not transformer_cache._supported(module)
    reference = _forecast(model)
    with kv_cached_decoding():
        np.testing.assert_array_equal(_forecast(model), reference)  # darts' own path, bit-equal
    plain = _fitted().model
    assert transformer_cache._supported(plain.eval())
    assert not transformer_cache._supported(plain.train())  # dropout on: cache would differ


def test_training_under_the_cache_is_bit_identical():
    torch.manual_seed(0)
    plain = _fitted()
    with kv_cached_decoding():
        cached = _fitted()
    for a, b in zip(plain.model.parameters(), cached.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_kv_cache_is_refused_for_other_darts_models(tmp_path):
    from benchmarks.harness.adapters.darts import build
    from benchmarks.harness.models import Budget

    class _Task:
        lookback, horizon = L, H

    with pytest.raises(ValueError, match="kv_cache"):
        build({"cls": "NLinearModel", "kv_cache": True}, _Task(), 0, Budget(), str(tmp_path))
