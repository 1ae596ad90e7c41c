"""DepthFlow is a drop-in optimizer for Lightning's ``configure_optimizers``."""

import math

import lightning.pytorch as pl
import pytest
import torch

from lightning_dln.theory import DepthFlow


class _LeastSquares(pl.LightningModule):
    def __init__(self, depth: float):
        super().__init__()
        self.depth = depth
        self.linear = torch.nn.Linear(12, 5)  # (out, in) weight: the end-to-end matrix

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.linear(x), y)
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self):
        return DepthFlow(self.parameters(), lr=0.5, depth=self.depth)


@pytest.mark.parametrize("depth", [16, math.inf])
def test_fit_with_depth_flow_reduces_loss(depth):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 12, generator=gen)
    y = x @ torch.randn(12, 5, generator=gen) / 4
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    torch.manual_seed(0)  # nn.Linear init
    model = _LeastSquares(depth)
    model.losses = []
    trainer = pl.Trainer(
        max_steps=40,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    assert len(model.losses) == 40
    assert model.losses[-1] < 0.75 * model.losses[0]
