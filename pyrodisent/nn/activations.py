"""Activation functions by name, including iVAE's xtanh."""
from __future__ import annotations

import torch
from torch import nn

from pyrodisent.registry import Registry

ACTIVATIONS = Registry("activation")


class XTanh(nn.Module):
    """xtanh(x) = tanh(x) + α·x (iVAE's activation, α = 0.1): tanh that never saturates."""

    def __init__(self, alpha: float = 0.1):
        super().__init__()
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) + self.alpha * x

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("leaky_relu")(lambda: nn.LeakyReLU(0.2))
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("xtanh")(XTanh)
ACTIVATIONS.register("elu")(nn.ELU)
ACTIVATIONS.register("softplus")(nn.Softplus)
ACTIVATIONS.register("silu")(nn.SiLU)


def activation(name: str) -> nn.Module:
    """A fresh activation module; leaky ReLU has slope 0.2 as in the iVAE/sVAE mixing code."""
    return ACTIVATIONS.build(name)
