"""Data: the ground-truth interface, tensors for training, batches, and the generators."""
from pyrodisent.data.arrays import ArrayDataset, BatchLoader
from pyrodisent.data.batch import Batch
from pyrodisent.data.ground_truth import GroundTruthData, as_generator, factor_grid_index
from pyrodisent.data.nonstationary import NonstationarySources, make_nonstationary_sources

__all__ = ["ArrayDataset", "BatchLoader", "Batch", "GroundTruthData", "as_generator", "factor_grid_index",
           "NonstationarySources", "make_nonstationary_sources"]
