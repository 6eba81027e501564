"""Evaluation of a trained model through the methods every model has: encodings and bounds
(:mod:`.scoring`), posterior diagnostics (:mod:`.diagnostics`, :mod:`.refinement`,
:mod:`.reference_posterior`), graph link prediction (:mod:`.graph_scores`) and imputation
(:mod:`.imputation`). The metrics that compare codes with true factors are in :mod:`pyrodisent.metrics`."""
