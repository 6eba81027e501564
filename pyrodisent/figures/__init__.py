"""Pictures written to run directories and reports: training curves and diagnostics (:mod:`.plots`),
image models' reconstructions, traversals and imputations (:mod:`.images`)."""
