"""Convolutional encoder and decoder of the disentanglement_lib study (Locatello et al. 2019).

Encoder: four 4×4 stride-2 convolutions with 32, 32, 64, 64 channels (ReLU), a 256-unit fully
connected layer, then a linear output. Decoder: the mirror image with transposed convolutions.
Images are channels first, ``(C, H, W)`` with H = W ∈ {32, 64} (any multiple of 16 works).
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
from torch import nn

from pyrodisent.nn.mlp import _as_shape
from pyrodisent.registry import NETWORKS

CHANNELS = (32, 32, 64, 64)


def _check_image_shape(shape: Tuple[int, ...], role: str) -> Tuple[int, int, int]:
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] % 16 != 0 or shape[0] < 1:
        raise ValueError(
            f"{role} needs square channel-first images (C, H, W) with H divisible by 16, e.g. (1, 64, 64) or "
            f"(3, 32, 32); got {shape}"
        )
    return shape  # type: ignore[return-value]


def flatten_leading(x: torch.Tensor, event_dims: int) -> Tuple[torch.Tensor, torch.Size]:
    """Merge all batch dimensions in front of the last ``event_dims`` into one, for 4-D conv layers."""
    batch_shape = x.shape[: x.dim() - event_dims]
    return x.reshape(-1, *x.shape[x.dim() - event_dims:]), batch_shape


@NETWORKS.register("conv_encoder")
class ConvEncoder(nn.Module):
    """``(B, C, H, W)`` images → ``(B, *out_shape)``."""

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int] | int, hidden: int = 256):
        super().__init__()
        self.in_shape = _check_image_shape(_as_shape(in_shape), "ConvEncoder")
        self.out_shape = _as_shape(out_shape)
        layers: list[nn.Module] = []
        channels_in = self.in_shape[0]
        for channels_out in CHANNELS:
            layers += [nn.Conv2d(channels_in, channels_out, 4, stride=2, padding=1), nn.ReLU()]
            channels_in = channels_out
        side = self.in_shape[1] // 16
        layers += [
            nn.Flatten(),
            nn.Linear(CHANNELS[-1] * side * side, hidden),
            nn.ReLU(),
            nn.Linear(hidden, math.prod(self.out_shape)),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, batch_shape = flatten_leading(x, 3)
        return self.layers(x).reshape(*batch_shape, *self.out_shape)


@NETWORKS.register("conv_decoder")
class ConvDecoder(nn.Module):
    """``(B, *in_shape)`` latents → ``(B, C, H, W)`` likelihood parameters (e.g. Bernoulli logits)."""

    def __init__(self, in_shape: Sequence[int] | int, out_shape: Sequence[int], hidden: int = 256):
        super().__init__()
        self.in_shape = _as_shape(in_shape)
        self.out_shape = _check_image_shape(_as_shape(out_shape), "ConvDecoder")
        self.side = self.out_shape[1] // 16
        self.project = nn.Sequential(
            nn.Linear(math.prod(self.in_shape), hidden),
            nn.ReLU(),
            nn.Linear(hidden, CHANNELS[-1] * self.side * self.side),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        channels = (*reversed(CHANNELS[:-1]), self.out_shape[0])  # 64 → 64, 32, 32, C
        channels_in = CHANNELS[-1]
        for i, channels_out in enumerate(channels):
            layers.append(nn.ConvTranspose2d(channels_in, channels_out, 4, stride=2, padding=1))
            if i < len(channels) - 1:
                layers.append(nn.ReLU())
            channels_in = channels_out
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z, batch_shape = flatten_leading(z, len(self.in_shape))
        h = self.project(z.reshape(z.shape[0], -1)).reshape(-1, CHANNELS[-1], self.side, self.side)
        return self.layers(h).reshape(*batch_shape, *self.out_shape)
