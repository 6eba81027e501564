"""Networks over sequences of frames: a temporal convolutional encoder and a frame-wise decoder.

Both wrap a per-frame network found by name (``mlp``, ``conv_encoder``/``conv_decoder``, ...), so a
sequence model and a per-frame baseline can share the same frame architecture.

- :class:`TemporalConvEncoder`: ``(B, T, *frame) → (B, T, P)``. Every frame goes through the frame
  network to ``features`` numbers; a 1-D convolution over time (odd ``window``, zero-padded, ReLU)
  mixes each frame with its neighbours, and a 1 × 1 convolution gives P outputs per frame — the
  GP-VAE encoder (Fortuin et al. 2020, Sec. 3.3: "a CNN over the time dimension").
- :class:`FramewiseDecoder`: latent paths ``(B, L, T)`` (channel-major, as a GP prior has them) →
  ``(B, T, *frame)``: the frame network applied to z_t at every t.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from pyrodisent.nn.mlp import _as_shape
from pyrodisent.registry import NETWORKS


def _build_frame_network(name: str, in_shape, out_shape, args: Optional[Dict[str, Any]]) -> nn.Module:
    return NETWORKS.build(name, in_shape, out_shape, **(args or {}))


@NETWORKS.register("temporal_conv_encoder")
class TemporalConvEncoder(nn.Module):
    """``(B, T, *frame)`` sequences → ``(B, T, P)``: a frame network, then convolutions over time.

    :param in_shape: ``(T, *frame_shape)``.
    :param out_shape: ``(T, P)``, P outputs per frame.
    :param frame_network: name of the per-frame network (``frame_shape → (features,)``).
    :param frame_args: its keyword arguments.
    :param features: width of the per-frame features and of the temporal convolution.
    :param window: frames seen by the temporal convolution (odd).
    """

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], frame_network: str = "mlp",
                 frame_args: Optional[Dict[str, Any]] = None, features: int = 256, window: int = 3):
        super().__init__()
        in_shape, out_shape = _as_shape(in_shape), _as_shape(out_shape)
        if len(in_shape) < 2 or len(out_shape) != 2 or in_shape[0] != out_shape[0]:
            raise ValueError(f"TemporalConvEncoder maps (T, *frame) to (T, P); got {in_shape} → {out_shape}")
        if window < 1 or window % 2 == 0:
            raise ValueError(f"window must be a positive odd number of frames, got {window}")
        self.in_shape, self.out_shape = in_shape, out_shape
        self.frame_network = _build_frame_network(frame_network, in_shape[1:], (features,), frame_args)
        self.temporal = nn.Conv1d(features, features, window, padding=window // 2)
        self.output = nn.Conv1d(features, out_shape[1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frame_dims = len(self.in_shape) - 1
        batch_shape, num_frames = x.shape[:-frame_dims - 1], x.shape[-frame_dims - 1]
        features = self.frame_network(x.reshape(-1, *x.shape[-frame_dims:]))  # (B·T, F)
        features = torch.relu(features).reshape(-1, num_frames, features.shape[-1]).transpose(1, 2)  # (B, F, T)
        out = self.output(torch.relu(self.temporal(features)))  # (B, P, T)
        return out.transpose(1, 2).reshape(*batch_shape, num_frames, out.shape[1])


@NETWORKS.register("framewise_decoder")
class FramewiseDecoder(nn.Module):
    """Latent paths ``(B, L, T)`` → ``(B, T, *frame)``: one frame network applied at every time.

    :param in_shape: ``(L, T)``.
    :param out_shape: ``(T, *frame_shape)``.
    :param frame_network: name of the per-frame network (``(L,) → frame_shape``).
    :param frame_args: its keyword arguments.
    """

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], frame_network: str = "mlp",
                 frame_args: Optional[Dict[str, Any]] = None):
        super().__init__()
        in_shape, out_shape = _as_shape(in_shape), _as_shape(out_shape)
        if len(in_shape) != 2 or len(out_shape) < 2 or in_shape[1] != out_shape[0]:
            raise ValueError(f"FramewiseDecoder maps (L, T) to (T, *frame); got {in_shape} → {out_shape}")
        self.in_shape, self.out_shape = in_shape, out_shape
        self.frame_network = _build_frame_network(frame_network, in_shape[:1], out_shape[1:], frame_args)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.frame_network(z.transpose(-1, -2))  # frame networks keep leading batch dimensions
