"""The forecaster: shapes, collapse equals the deep forward, config validation."""

import pytest
import torch

from lightning_dln.models import DeepLinearTimeSeries, DLNConfig, pooling_matrix

FULL = dict(channels="per_channel", scales=(1, 2, 4), temporal_mixing=True, channel_mixing=True,
            channel_depth=2, affine_norm=True, depth=3)


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def randomize(model):
    """Move every parameter off its (often identity or zero) initial value."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("config", [{}, FULL, {"instance_norm": "last", "depth": 2},
                                    {"instance_norm": "none", "factor": "lowrank", "rank": 4,
                                     "residual": True, "init": "identity_residual"}])
@pytest.mark.parametrize("n_outputs", [None, 3])
def test_collapse_equals_deep_forward_with_covariates(config, n_outputs):
    torch.manual_seed(0)
    model = randomize(DeepLinearTimeSeries(24, 6, 3, config, n_outputs=n_outputs,
                                           n_past_covariates=2, n_future_covariates=1,
                                           n_static_covariates=2)).double()
    x = torch.randn(5, 24, 3, dtype=torch.float64)
    covs = dict(past_covariates=torch.randn(5, 24, 2, dtype=torch.float64),
                future_covariates=torch.randn(5, 6, 1, dtype=torch.float64),
                static_covariates=torch.randn(5, 2, dtype=torch.float64))
    y = model(x, **covs)
    expected_shape = (5, 6, 3) if n_outputs is None else (5, 6, 3, 3)
    assert y.shape == expected_shape
    assert rel(model.collapse()(x, **covs), y) < 1e-12


@pytest.mark.parametrize("norm", ["revin", "last", "none"])
@pytest.mark.parametrize("channels", ["shared", "per_channel"])
@pytest.mark.parametrize("n_outputs", [None, 3])
def test_collapsed_fast_path_equals_deep_forward(norm, channels, n_outputs):
    # No covariates, no channel mixing, no affine norm: CollapsedForecaster skips the division
    # by the scale (W centred + scale b + loc); it must still be the deep model's map.
    torch.manual_seed(0)
    config = {"instance_norm": norm, "channels": channels, "scales": (1, 2), "depth": 3}
    model = randomize(DeepLinearTimeSeries(24, 6, 3, config, n_outputs=n_outputs)).double()
    x = 1e3 + 5 * torch.randn(5, 24, 3, dtype=torch.float64)  # a large offset on purpose
    collapsed = model.collapse()
    assert rel(collapsed(x), model(x)) < 1e-12
    with torch.no_grad():
        assert rel(collapsed(x), model(x)) < 1e-12
    x32 = x.float()
    assert rel(model.float().collapse()(x32), model.float()(x32)) < 1e-5


def test_depth_100_forecaster_collapse_float32():
    torch.manual_seed(0)
    model = DeepLinearTimeSeries(96, 24, 4, {"depth": 100, "init_scale": 1.0})
    x = torch.randn(8, 96, 4)
    assert rel(model.collapse()(x), model(x)) <= 1e-4


def test_linear_operator_reproduces_normalised_map():
    torch.manual_seed(0)
    model = randomize(DeepLinearTimeSeries(12, 4, 3, FULL, n_outputs=2)).double()
    x = torch.randn(6, 12, 3, dtype=torch.float64)
    a, b = model.linear_operator()
    assert a.shape == (4 * 3 * 2, 12 * 3)
    z, stats = model.norm.normalize(x)  # (B, C, L)
    flat = (z.transpose(1, 2).reshape(6, -1) @ a.T + b).view(6, 4, 3, 2)  # (B, H, C, Q)
    y = model.norm.denormalize(flat.permute(0, 2, 1, 3).reshape(6, 3, 8), stats)  # (B, C, K)
    assert rel(y.view(6, 3, 4, 2).permute(0, 2, 1, 3), model(x)) < 1e-12


def test_shared_weights_are_channel_independent_and_shift_equivariant():
    """With RevIN, shifting a channel by a constant shifts its forecast by the same constant."""
    torch.manual_seed(0)
    model = DeepLinearTimeSeries(16, 4, 2, {"depth": 2}).double()
    x = torch.randn(3, 16, 2, dtype=torch.float64)
    shifted = x + torch.tensor([5.0, -2.0], dtype=torch.float64)
    assert torch.allclose(model(shifted), model(x) + torch.tensor([5.0, -2.0],
                                                                  dtype=torch.float64))


def test_pooling_matrix_averages_end_aligned_blocks():
    pool = pooling_matrix(7, 3)
    x = torch.arange(7.0)
    assert torch.allclose(pool @ x, torch.tensor([2.0, 5.0]))
    for bad in ({"lookback": 7, "scale": 0}, {"lookback": 0, "scale": 1},
                {"lookback": 7, "scale": 2.0}, {"lookback": 7, "scale": 8}):
        with pytest.raises(ValueError, match="lookback|scale"):
            pooling_matrix(**bad)


def test_wrong_channel_count_and_lookback_are_value_errors():
    model = DeepLinearTimeSeries(16, 4, 3)
    with pytest.raises(ValueError, match="n_channels=3"):
        model(torch.randn(2, 16, 5))
    with pytest.raises(ValueError, match="lookback"):
        model(torch.randn(2, 12, 3))
    with pytest.raises(ValueError, match="floating"):
        model(torch.ones(2, 16, 3, dtype=torch.long))


def test_missing_or_unexpected_covariates_are_value_errors():
    model = DeepLinearTimeSeries(16, 4, 3, n_past_covariates=2)
    with pytest.raises(ValueError, match="past_covariates"):
        model(torch.randn(2, 16, 3))
    with pytest.raises(ValueError, match="future_covariates"):
        model(torch.randn(2, 16, 3), torch.randn(2, 16, 2), future_covariates=torch.randn(2, 4, 1))


@pytest.mark.parametrize("field, value", [
    ("depth", 0), ("depth", "inf"), ("width", -3), ("factor", "toeplitz"), ("rank", 0),
    ("init", "he"), ("init_scale", 0.0), ("activation", "softmax"), ("channels", "mixed"),
    ("scales", ()), ("scales", (1, 1)), ("scales", (0,)), ("channel_depth", 0),
    ("instance_norm", "batch"), ("parametrization", "implicit"),
])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        DLNConfig(**{field: value})


def test_config_round_trips_through_dict():
    cfg = DLNConfig(**{k: v for k, v in FULL.items()})
    assert DLNConfig.coerce(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown DLN options"):
        DLNConfig.coerce({"depht": 3})


def test_activation_control_runs_but_does_not_collapse():
    model = DeepLinearTimeSeries(16, 4, 2, {"activation": "gelu", "depth": 3})
    assert model(torch.randn(2, 16, 2)).shape == (2, 4, 2)
    with pytest.raises(ValueError, match="does not collapse"):
        model.collapse()


def test_scale_larger_than_lookback_is_value_error():
    with pytest.raises(ValueError, match="scale"):
        DeepLinearTimeSeries(8, 2, 1, {"scales": (1, 16)})


def test_depth_1000_forecaster_at_init_is_finite_with_the_configured_scale():
    """ETTh1 shapes (L=336, H=96, C=7), depth 1000, balanced init at scale 0.1."""
    torch.manual_seed(0)
    model = DeepLinearTimeSeries(336, 96, 7, {"depth": 1000, "init_scale": 0.1})
    y = model(torch.randn(4, 336, 7))
    assert torch.isfinite(y).all()
    w, _ = model.temporal_end_to_end(torch.float64)
    norm = torch.linalg.matrix_norm(w[0], ord=2).item()
    assert 0.05 <= norm <= 0.2
