"""darts ``TransformerModel`` decoding with a key/value cache: the same forecasts, O(H) not O(H^2).

darts 0.48 forecasts autoregressively outside training (validation and ``predict``): at step
``t`` it runs the whole decoder over the ``t + 1`` tokens so far and keeps only the last output,
so a window costs about ``H^2 / 2`` decoder-token passes (10.4 s a window at H = 720 on this
CPU, ``benchmarks/results/transformer_cost.md``). With a causal mask the decoder's output at
position ``t`` depends only on the layer inputs at positions ``<= t``, which never change once
computed, so caching each layer's self-attention keys/values (and the cross-attention
keys/values of the encoder memory, fixed per window) and pushing one new token through the
layers per step computes the same function: the same weights, the same start token and
positional encodings, the same feedback of the channel mean. Only floating-point summation
order differs (``tests/test_transformer_cache.py`` bounds the difference against darts' own
loop on a trained model).

``kv_cached_decoding()`` swaps the forward of darts' ``_TransformerModule`` *class* for the
cached one inside a ``with`` block (class-level, so the module darts re-creates when it restores
the best checkpoint uses it too), and restores darts' forward on exit. Training (teacher
forcing) and any decoder it does not recognise exactly (custom or GLU layers, ``bias_k``,
``add_zero_attn``, ``batch_first``, dropout active) go to darts' own code unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def _supported(module: nn.Module) -> bool:
    """Whether ``module``'s decoder is the stock ``nn.TransformerDecoder`` this code mirrors."""
    if module.training:  # dropout would make the cached and uncached paths differ
        return False
    decoder = module.transformer.decoder
    if type(decoder) is not nn.TransformerDecoder:
        return False
    for layer in decoder.layers:
        if type(layer) is not nn.TransformerDecoderLayer:
            return False
        for mha in (layer.self_attn, layer.multihead_attn):
            if (type(mha) is not nn.MultiheadAttention or not mha._qkv_same_embed_dim
                    or mha.bias_k is not None or mha.add_zero_attn or mha.batch_first):
                return False
    return True


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """``(S, B, D)`` -> ``(B, heads, S, D / heads)``."""
    seq, batch, dim = x.shape
    return x.reshape(seq, batch, n_heads, dim // n_heads).permute(1, 2, 0, 3)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """``(B, heads, S, d)`` -> ``(S, B, heads * d)``."""
    batch, heads, seq, dim = x.shape
    return x.permute(2, 0, 1, 3).reshape(seq, batch, heads * dim)


class _LayerCache:
    """One decoder layer's cached keys/values: its own tokens so far and the encoder memory."""

    def __init__(self, layer: nn.TransformerDecoderLayer, memory: torch.Tensor, steps: int):
        self.layer = layer
        self.n_heads = layer.self_attn.num_heads
        dim = layer.self_attn.embed_dim
        # cross-attention: memory keys/values are the same at every step, project them once
        w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
        k_w, v_w = w[dim:2 * dim], w[2 * dim:]
        k_b, v_b = (None, None) if b is None else (b[dim:2 * dim], b[2 * dim:])
        self.mem_k = _heads(F.linear(memory, k_w, k_b), self.n_heads)
        self.mem_v = _heads(F.linear(memory, v_w, v_b), self.n_heads)
        batch = memory.shape[1]
        shape = (batch, self.n_heads, steps, dim // self.n_heads)
        self.self_k = memory.new_empty(shape)
        self.self_v = memory.new_empty(shape)
        self.length = 0

    def _self_attention(self, x: torch.Tensor) -> torch.Tensor:
        """The new token attends to every cached token and itself (all earlier: causal)."""
        mha = self.layer.self_attn
        q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        t = self.length
        self.self_k[:, :, t:t + 1] = _heads(k, self.n_heads)
        self.self_v[:, :, t:t + 1] = _heads(v, self.n_heads)
        self.length = t + 1
        out = F.scaled_dot_product_attention(
            _heads(q, self.n_heads), self.self_k[:, :, :t + 1], self.self_v[:, :, :t + 1])
        return mha.out_proj(_merge(out))

    def _cross_attention(self, x: torch.Tensor) -> torch.Tensor:
        mha = self.layer.multihead_attn
        dim = mha.embed_dim
        b = mha.in_proj_bias
        q = F.linear(x, mha.in_proj_weight[:dim], None if b is None else b[:dim])
        out = F.scaled_dot_product_attention(_heads(q, self.n_heads), self.mem_k, self.mem_v)
        return mha.out_proj(_merge(out))

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output for one new token ``x`` of shape ``(1, B, D)`` (eval: no dropout)."""
        layer = self.layer
        if layer.norm_first:
            x = x + self._self_attention(layer.norm1(x))
            x = x + self._cross_attention(layer.norm2(x))
            return x + layer._ff_block(layer.norm3(x))
        x = layer.norm1(x + self._self_attention(x))
        x = layer.norm2(x + self._cross_attention(x))
        return layer.norm3(x + layer._ff_block(x))


def _cached_body(darts_body):
    """darts' forward body with the autoregressive loop replaced by cached decoding."""
    # the names darts' transformer module itself uses (defined in darts.utils.data)
    from darts.models.forecasting.transformer_model import ModuleStage, PLModuleOutput

    def body(self, x_in):
        if x_in.stage is ModuleStage.TRAIN or not _supported(self):
            return darts_body(self, x_in)
        src = x_in.concatenate_past_features().permute(1, 0, 2)  # (L, B, features)
        pad_size = (0, self.input_size - self.target_size)
        memory = self.transformer.encoder(self._embed(src))
        decoder = self.transformer.decoder
        caches = [_LayerCache(layer, memory, self.target_length) for layer in decoder.layers]
        token = self._embed(src[-1:])  # darts' start token: the last lookback row
        predictions = []
        for t in range(self.target_length):
            x = token
            for cache in caches:
                x = cache.step(x)
            if decoder.norm is not None:
                x = decoder.norm(x)
            pred = self.decoder(x[0]).view(-1, self.target_size, self.nr_params)
            predictions.append(pred)
            # darts feeds back the mean over the likelihood's parameters, padded to the inputs
            next_token = F.pad(pred.mean(dim=2).unsqueeze(0), pad_size)
            token = self._embed(next_token, start_pos=t + 1)
        return PLModuleOutput(prediction=torch.stack(predictions, dim=1))

    return body


@contextlib.contextmanager
def kv_cached_decoding() -> Iterator[None]:
    """Within the block, darts' ``TransformerModel`` validates and predicts with a KV cache."""
    from darts.models.forecasting.pl_forecasting_module import io_processor
    from darts.models.forecasting.transformer_model import _TransformerModule

    darts_forward = _TransformerModule.__dict__["forward"]
    darts_body = getattr(darts_forward, "__wrapped__", None)
    if darts_body is None:  # darts changed how forward is built: do not guess, use darts' own
        yield
        return
    _TransformerModule.forward = io_processor(_cached_body(darts_body))
    try:
        yield
    finally:
        _TransformerModule.forward = darts_forward
