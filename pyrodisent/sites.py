"""Names of the Pyro sites every model of the zoo shares."""

LATENT_SITE = "z"  # the local latent, one per data point
OBSERVATION_SITE = "x"  # the observation
DATA_PLATE = "data"  # the plate over the data axis (size N, minibatch subsample)
PAIR_LATENT_SITE = "z_pair"  # the latent of a pair's second observation (pair models)
PAIR_OBSERVATION_SITE = "x_pair"  # a pair's second observation
