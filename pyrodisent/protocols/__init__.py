"""Benchmark protocols: data, what its batches carry, training defaults, evaluation and pictures — by name.

``PROTOCOLS.build(name, **settings)`` (:data:`pyrodisent.registry.PROTOCOLS`); ``pyrodisent list
protocols`` lists them. Importing this package registers the built-in ones:

- ``nonstationary`` (iVAE), ``sparse_shift`` (sVAE+),
- ``dsprites``, ``dsprites_procedural``, ``shapes3d`` (the Locatello et al. study),
- ``tree_graph``, ``general_graph``, ``sprite_graph`` (link prediction, Correlated VAEs),
- ``sprite_sequences`` (imputation, GP-VAE),
- ``circular_sprites`` (topology-aware latent spaces: loops, points, segments),
- ``concepts`` (labels of the factors of any ground-truth image set, a labelled fraction: CCVAE, CLAP),
- ``weak_pairs`` (weakly supervised pairs over any ground-truth image set: Ada-GVAE, latent shift),
- ``user_data`` (your own file; :func:`register_arrays` / :func:`register_dataset` for arrays and torch
  datasets in Python).

A new protocol subclasses :class:`Protocol` (see :mod:`.base`) and registers itself with
``@PROTOCOLS.register(name)``.
"""
from pyrodisent.protocols.base import ACTION, AUX, GRAPH, SEQUENCE, Protocol, ProtocolData, RunContext
from pyrodisent.protocols.settings import Setting, SettingError
from pyrodisent.protocols import graph_benchmarks, image_benchmarks, nonstationary, sparse_shift  # noqa: F401
from pyrodisent.protocols import concepts, sprite_sequences, topology_benchmarks, weak_pairs  # noqa: F401
from pyrodisent.protocols.user_data import UserData, register_arrays, register_dataset

__all__ = ["ACTION", "AUX", "GRAPH", "SEQUENCE", "Protocol", "ProtocolData", "RunContext", "Setting", "SettingError",
           "UserData", "register_arrays", "register_dataset"]
