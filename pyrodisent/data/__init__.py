"""Data: the ground-truth interface, tensors for training, batches, and the data sources.

Data sources are found by name in ``pyrodisent.registry.DATASETS``; each implements
:class:`GroundTruthData` and gives its training set with ``training_set(...)``.
"""
from pyrodisent.data.arrays import ArrayDataset, BatchLoader
from pyrodisent.data.batch import Batch
from pyrodisent.data.circular_sprites import CircularSprites
from pyrodisent.data.dsprites import DSprites, ProceduralDSprites
from pyrodisent.data.ground_truth import GroundTruthData, factor_grid_index
from pyrodisent.data.graphs import (CorrelatedTreeSimulation, GraphBatch, GraphBatchLoader, GraphDataset,
                                    SpriteGraph)
from pyrodisent.data.nonstationary import NonstationarySources
from pyrodisent.data.shapes3d import Shapes3D, rechunk_shapes3d, write_shapes3d_like
from pyrodisent.data.sparse_shift import SparseShiftSimulation
from pyrodisent.data.sprite_sequences import SequenceSet, SpriteSequences
from pyrodisent.random_state import RandomState, as_generator

__all__ = ["ArrayDataset", "BatchLoader", "Batch", "GroundTruthData", "RandomState", "as_generator",
           "factor_grid_index", "NonstationarySources", "SparseShiftSimulation", "DSprites", "ProceduralDSprites",
           "Shapes3D", "rechunk_shapes3d", "write_shapes3d_like", "GraphBatch", "GraphBatchLoader", "GraphDataset",
           "CorrelatedTreeSimulation", "SpriteGraph", "SequenceSet", "SpriteSequences",
           "CircularSprites"]
