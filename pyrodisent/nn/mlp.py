"""Multi-layer perceptron over flattened inputs."""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
from torch import nn

from pyrodisent.nn.activations import activation
from pyrodisent.nn.normalization import ActNorm
from pyrodisent.registry import NETWORKS


@NETWORKS.register("mlp")
class MLP(nn.Module):
    """Maps ``(B, *in_shape)`` to ``(B, *out_shape)`` through fully connected layers.

    :param in_shape: shape of one input (flattened before the first layer).
    :param out_shape: shape of one output (the last layer is linear).
    :param hidden: widths of the hidden layers, e.g. ``(100, 100)`` for iVAE's 3-layer MLPs.
    :param activation_name: ``relu``, ``leaky_relu`` (slope 0.2), ``tanh``, ``xtanh``, ``elu``, ...
    :param standardize_inputs: put an :class:`~pyrodisent.nn.normalization.ActNorm` before the first
        layer: each input feature standardised with the mean and sd of the first batch, then trained
        (for inputs far from zero mean and unit scale, e.g. log counts).
    """

    def __init__(
        self,
        in_shape: Sequence[int] | int,
        out_shape: Sequence[int] | int,
        hidden: Sequence[int] = (100, 100),
        activation_name: str = "leaky_relu",
        standardize_inputs: bool = False,
    ):
        super().__init__()
        self.in_shape: Tuple[int, ...] = _as_shape(in_shape)
        self.out_shape: Tuple[int, ...] = _as_shape(out_shape)
        widths = [math.prod(self.in_shape), *hidden]
        layers: list[nn.Module] = [ActNorm(widths[0])] if standardize_inputs else []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(width_in, width_out), activation(activation_name)]
        layers.append(nn.Linear(widths[-1], math.prod(self.out_shape)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_shape = x.shape[: x.dim() - len(self.in_shape)]
        if x.shape[len(batch_shape):] != self.in_shape:
            raise ValueError(f"MLP expected inputs (..., {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        y = self.layers(x.reshape(*batch_shape, -1))
        return y.reshape(*batch_shape, *self.out_shape)


def _as_shape(shape: Sequence[int] | int) -> Tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
