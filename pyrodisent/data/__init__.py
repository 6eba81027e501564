"""Data: the ground-truth interface, tensors for training, batches, and the generators."""
from pyrodisent.data.arrays import ArrayDataset, BatchLoader
from pyrodisent.data.batch import Batch
from pyrodisent.data.ground_truth import GroundTruthData, as_generator, factor_grid_index
from pyrodisent.data.nonstationary import NonstationarySources, make_nonstationary_sources

__all__ = ["ArrayDataset", "BatchLoader", "Batch", "GroundTruthData", "as_generator", "factor_grid_index",
           "NonstationarySources", "make_nonstationary_sources"]
from pyrodisent.data.dsprites import DSprites, ProceduralDSprites  # noqa: E402
from pyrodisent.data.shapes3d import Shapes3D, rechunk_shapes3d, write_shapes3d_like  # noqa: E402

__all__ += ["DSprites", "ProceduralDSprites", "Shapes3D", "rechunk_shapes3d", "write_shapes3d_like"]
