"""Residual convolutional encoder and decoder: the study's layout with a residual block per scale."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from pyrodisent.nn.conv import _check_image_shape, flatten_leading
from pyrodisent.nn.mlp import _as_shape
from pyrodisent.registry import NETWORKS


class ResidualBlock(nn.Module):
    """x + conv3×3(ReLU(conv3×3(ReLU(x)))): keeps shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@NETWORKS.register("residual_encoder")
class ResidualEncoder(nn.Module):
    """``(B, C, H, W)`` → ``(B, *out_shape)``: four stride-2 stages, each followed by a residual block."""

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int] | int, channels: Sequence[int] = (32, 32, 64, 64), hidden: int = 256):
        super().__init__()
        self.in_shape = _check_image_shape(_as_shape(in_shape), "ResidualEncoder")
        self.out_shape = _as_shape(out_shape)
        layers: list[nn.Module] = []
        channels_in = self.in_shape[0]
        for channels_out in channels:
            layers += [nn.Conv2d(channels_in, channels_out, 4, stride=2, padding=1), ResidualBlock(channels_out)]
            channels_in = channels_out
        side = self.in_shape[1] // 16
        layers += [nn.ReLU(), nn.Flatten(), nn.Linear(channels_in * side * side, hidden), nn.ReLU(),
                   nn.Linear(hidden, math.prod(self.out_shape))]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, batch_shape = flatten_leading(x, 3)
        return self.layers(x).reshape(*batch_shape, *self.out_shape)


@NETWORKS.register("residual_decoder")
class ResidualDecoder(nn.Module):
    """``(B, *in_shape)`` → ``(B, C, H, W)``: mirror of :class:`ResidualEncoder`."""

    def __init__(self, in_shape: Sequence[int] | int, out_shape: Sequence[int], channels: Sequence[int] = (64, 64, 32, 32), hidden: int = 256):
        super().__init__()
        self.in_shape = _as_shape(in_shape)
        self.out_shape = _check_image_shape(_as_shape(out_shape), "ResidualDecoder")
        self.side = self.out_shape[1] // 16
        self.first_channels = channels[0]
        self.project = nn.Sequential(
            nn.Linear(math.prod(self.in_shape), hidden), nn.ReLU(), nn.Linear(hidden, channels[0] * self.side * self.side)
        )
        layers: list[nn.Module] = []
        outs = (*channels[1:], self.out_shape[0])
        channels_in = channels[0]
        for i, channels_out in enumerate(outs):
            layers.append(ResidualBlock(channels_in))
            layers.append(nn.ReLU())
            layers.append(nn.ConvTranspose2d(channels_in, channels_out, 4, stride=2, padding=1))
            channels_in = channels_out
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z, batch_shape = flatten_leading(z, len(self.in_shape))
        h = self.project(z.reshape(z.shape[0], -1)).reshape(-1, self.first_channels, self.side, self.side)
        return self.layers(h).reshape(*batch_shape, *self.out_shape)
