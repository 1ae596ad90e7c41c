"""TheoryDiagnostics: the right keys in both Trainers, values equal to the theory functions."""

import math

import lightning.pytorch as L
import pytest
import pytorch_lightning as PL
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_dln import theory
from lightning_dln.callbacks import TheoryDiagnostics
from lightning_dln.models import DeepLinearTimeSeries
from lightning_dln.module import DLNForecaster

LOOKBACK, HORIZON, CHANNELS = 12, 4, 2
TOP_K = 3


def loader() -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, LOOKBACK, CHANNELS, generator=gen)
    y = torch.randn(16, HORIZON, CHANNELS, generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=4)


class HostPL(PL.LightningModule):
    """A pytorch_lightning host (like the darts adapter) that keeps the core under another name."""

    def __init__(self) -> None:
        super().__init__()
        self.net = DeepLinearTimeSeries(LOOKBACK, HORIZON, CHANNELS,
                                        {"depth": 3, "init_scale": 0.5, "channels": "per_channel"})

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class Recorder(L.loggers.Logger):
    """Keeps every ``log_metrics`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    name, version = "recorder", 0

    @property
    def experiment(self):
        return None

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        if any(k.startswith("theory/") for k in metrics):  # not the module's own train_loss
            self.calls.append((step, dict(metrics)))


def trainer_kwargs(**extra) -> dict:
    return {"max_steps": 4, "enable_progress_bar": False, "enable_checkpointing": False,
            "enable_model_summary": False, "num_sanity_val_steps": 0, **extra}


def entropy_reference(s: torch.Tensor, depth: float) -> float:
    """1/2 sum_{i<j} ln K_N(s_i, s_j) written out (THEORY.md section 5), on the non-zero s."""
    total = 0.0
    for i in range(len(s)):
        for j in range(i + 1, len(s)):
            a, b = float(s[i]), float(s[j])
            if math.isinf(depth):
                k = (a * a - b * b) / (math.log(a * a) - math.log(b * b))
            else:
                k = (a * a - b * b) / (a ** (2 / depth) - b ** (2 / depth))
            total += 0.5 * math.log(k)
    return total


def expected_keys(tag: str, entropy: bool = True) -> set[str]:
    keys = {f"theory/{tag}/{q}" for q in ("balancedness", "erank")}
    keys |= {f"theory/{tag}/sv_{i}" for i in range(TOP_K)}
    return keys | ({f"theory/{tag}/entropy"} if entropy else set())


def test_lightning_trainer_logs_keys_equal_to_theory_functions():
    model = DLNForecaster(LOOKBACK, HORIZON, CHANNELS, net={"depth": 3, "init_scale": 0.5},
                          optimizer="sgd", lr=0.05)
    callback, logger = TheoryDiagnostics(every_n_steps=2, top_k=TOP_K), Recorder()
    L.Trainer(callbacks=[callback], logger=logger, **trainer_kwargs()).fit(model, loader())
    tag = "model.temporal"
    assert [step for step, _ in logger.calls] == [0, 2, 4]
    assert all(set(m) == expected_keys(tag) for _, m in logger.calls)
    # The last record is the trained model: recompute everything from the stack.
    stack = model.model.stacks[0]
    w = stack.end_to_end(torch.float64)[0][0]  # (H, L)
    s = theory.singular_values(w)
    last = logger.calls[-1][1]
    assert last[f"theory/{tag}/balancedness"] == pytest.approx(
        theory.balancedness([m.detach().double() for m in stack.matrices()]), rel=1e-9)
    assert last[f"theory/{tag}/balancedness"] > 0  # discrete GD drifts off balance by O(lr)
    for i in range(TOP_K):
        assert last[f"theory/{tag}/sv_{i}"] == pytest.approx(float(s[i]), rel=1e-9)
    assert last[f"theory/{tag}/erank"] == pytest.approx(float(theory.effective_rank(w)), rel=1e-9)
    assert last[f"theory/{tag}/entropy"] == pytest.approx(entropy_reference(s, 3), rel=1e-7)
    assert callback.history[0]["step"] == 0 and callback.history[0]["balancedness"] < 1e-6


def test_pytorch_lightning_trainer_accepts_it_and_finds_stacks_in_any_host():
    host, callback = HostPL(), TheoryDiagnostics(every_n_steps=None, every_n_epochs=1, top_k=TOP_K)
    PL.Trainer(callbacks=[callback], logger=False, max_epochs=1, **{
        k: v for k, v in trainer_kwargs().items() if k != "max_steps"}).fit(host, loader())
    tags = {r["tag"] for r in callback.history}
    assert tags == {"net.temporal"}
    assert [r["step"] for r in callback.history] == [0, 4]  # start and end of the epoch
    w = host.net.stacks[0].end_to_end(torch.float64)[0]  # (G=2, H, L): per-channel maps
    s = theory.singular_values(w).mean(dim=0)
    assert torch.allclose(torch.tensor(callback.history[-1]["singular_values"],
                                       dtype=torch.float64), s, rtol=1e-9)


def test_flow_parametrization_is_balanced_and_uses_the_flow_depth():
    model = DLNForecaster(LOOKBACK, HORIZON, CHANNELS,
                          net={"depth": "inf", "parametrization": "flow", "init_scale": 1.0},
                          optimizer="flow", lr=0.5)
    callback = TheoryDiagnostics(every_n_steps=4, top_k=TOP_K)
    L.Trainer(callbacks=[callback], logger=False, **trainer_kwargs()).fit(model, loader())
    last = callback.history[-1]
    assert last["depth"] == math.inf and last["balancedness"] == 0.0
    s = theory.singular_values(model.model.stacks[0].end_to_end(torch.float64)[0][0])
    assert last["entropy"] == pytest.approx(entropy_reference(s, math.inf), rel=1e-7)


def test_depth_one_skips_entropy_and_empty_host_raises():
    model = DLNForecaster(LOOKBACK, HORIZON, CHANNELS, net={"depth": 1}, optimizer="sgd", lr=0.01)
    callback = TheoryDiagnostics(every_n_steps=2, top_k=TOP_K)
    L.Trainer(callbacks=[callback], logger=False, **trainer_kwargs()).fit(model, loader())
    assert callback.history[-1]["entropy"] is None
    assert set(L.Trainer(logger=False).callback_metrics) == set()  # fresh trainer untouched
    with pytest.raises(ValueError, match="no linear DeepLinear"):
        callback.record(L.Trainer(logger=False), torch.nn.Linear(2, 2))


@pytest.mark.parametrize("kwargs", [{"every_n_steps": 0}, {"every_n_epochs": 1.5}, {"top_k": -1}])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TheoryDiagnostics(**kwargs)
