"""Shared neural networks, found by name: ``NETWORKS.build(name, in_shape, out_shape, **kwargs)``.

Every network maps ``(B, *in_shape)`` to ``(B, *out_shape)``; extra leading batch dimensions are kept.
"""
from pyrodisent.nn.activations import ACTIVATIONS, XTanh, activation
from pyrodisent.nn.conv import ConvDecoder, ConvEncoder
from pyrodisent.nn.mlp import MLP
from pyrodisent.nn.normalization import ActNorm
from pyrodisent.nn.residual import ResidualDecoder, ResidualEncoder
from pyrodisent.nn.sequence import FramewiseDecoder, TemporalConvEncoder
from pyrodisent.registry import NETWORKS


def build_network(name: str, in_shape, out_shape, **kwargs):
    """Build a registered network; the error for an unknown name lists the registered ones."""
    return NETWORKS.build(name, in_shape, out_shape, **kwargs)


__all__ = ["ACTIVATIONS", "NETWORKS", "ActNorm", "MLP", "ConvEncoder", "ConvDecoder", "ResidualEncoder", "ResidualDecoder",
           "TemporalConvEncoder", "FramewiseDecoder", "XTanh", "activation", "build_network"]
