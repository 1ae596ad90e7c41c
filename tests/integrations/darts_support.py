"""What the DeepLinearModel tests share: a quiet CPU trainer, a small-model factory, a sine.

Imported by the ``test_darts_*`` files after their ``pytest.importorskip("darts")``, so this
module may import darts at the top.
"""

import numpy as np
from darts.utils.timeseries_generation import sine_timeseries

from lightning_dln.integrations.darts import DeepLinearModel

L, H = 12, 4
TRAINER = dict(accelerator="cpu", enable_progress_bar=False, logger=False,
               enable_model_summary=False)


def make_model(tmp_path, **kw) -> DeepLinearModel:
    """A small DeepLinearModel (L = 12, H = 4, depth 2, one epoch) writing under ``tmp_path``."""
    args = dict(input_chunk_length=L, output_chunk_length=H, depth=2, n_epochs=1,
                batch_size=16, random_state=0, work_dir=str(tmp_path),
                pl_trainer_kwargs=dict(TRAINER))
    args.update(kw)
    return DeepLinearModel(**args)


def sine(length=80, freq=0.1, name="sine"):
    """A float32 one-component sine TimeSeries (darts' generator, daily index)."""
    return sine_timeseries(length=length, value_frequency=freq,
                           column_name=name).astype(np.float32)
