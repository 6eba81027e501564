"""Your own data as a protocol: arrays with optional true factors and auxiliary variables — from a
NumPy (``.npz`` / ``.npy``) or HDF5 file, from arrays in Python, or from any torch ``Dataset`` — scored
with every metric its ground truth allows.

From the command line (a file; keys name its arrays)::

    pyrodisent train --model ivae --protocol user_data --set path=cells.npz --set aux_key=u --set factors_key=z

From Python (registers a protocol under a name, usable by ``run``, ``pyrodisent train`` in a
``--model-file`` that registers it, and sweeps)::

    from pyrodisent.protocols import register_arrays
    register_arrays("my_cells", x, factors=z, u=condition)
    run(RunSpec(model="ivae", protocol="my_cells"), out="runs/my_cells-ivae")

Without factors the run reports the ELBO; with factors also MCC (Pearson and Spearman), linear R² and
MIG, DCI, SAP, modularity / explicitness and IRS (continuous factors cut into 20 bins), on a held-out
share of the points. Vectors train with MLPs, 64 × 64 images with the study's convolutional networks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.evaluation.scoring import encode, evidence_lower_bound
from pyrodisent.figures.plots import plot_matched_latents
from pyrodisent.metrics import array_metrics, discrete_factors, linear_r2, mcc
from pyrodisent.protocols.base import AUX, Protocol, ProtocolData, RunContext
from pyrodisent.protocols.settings import Setting
from pyrodisent.registry import PROTOCOLS
from pyrodisent.runs.flags import number, positive_int, seed

#: image observations the convolutional networks take: (channels, 64, 64)
IMAGE_SIDE = 64


@PROTOCOLS.register("user_data")
class UserData(Protocol):
    """Your own data from a .npz, .npy or HDF5 file: x with optional factors and auxiliary variable u."""

    name = "user_data"
    provides = frozenset({AUX})  # when the data has an auxiliary variable (aux_key); see __init__
    default_model = "vae"
    training = dict(epochs=50, batch_size=128, lr=1e-3, lr_schedule="cosine")
    diagnosis = dict(draws=100, points=200, samples=200)
    settings = (
        Setting("path", None, "the data file: .npz (arrays by key), .npy (x only) or .h5/.hdf5 (datasets by key)",
                str, optional=True),
        Setting("x_key", "x", "the observations' array in the file", str),
        Setting("factors_key", None, "the true factors' array (N, F), if any", str, optional=True),
        Setting("aux_key", None, "the auxiliary variable's array (N, A) or (N,) integer labels, if any", str,
                optional=True),
        Setting("likelihood", "auto", "observation likelihood (auto: bernoulli for data in {0, 1}, else gaussian)",
                choices=("auto", "gaussian", "bernoulli", "poisson", "negative_binomial")),
        Setting("latent_dim", 0, "latent dimensions (0: the number of factors, else 10)", number(int, at_least=0)),
        Setting("hidden", [128, 128], "hidden widths of the MLPs (vector data)", positive_int, many=True),
        Setting("test_fraction", 0.2, "share of the points the factor metrics are scored on",
                number(float, above=0, below=1, name="fraction")),
        Setting("metric_points", 10_000, "at most this many points are encoded for the factor metrics", positive_int),
        Setting("split_seed", 0, "seed of the train/test split of the factor metrics", seed),
    )

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        if type(self).arrays is None:  # a file: its batches carry u when the file has it
            self.provides = frozenset({AUX}) if self.aux_key else frozenset()

    #: arrays bound by :func:`register_arrays` (a subclass per registered name); None: read ``path``
    arrays: Optional[Dict[str, Optional[np.ndarray]]] = None

    # ------------------------------------------------------------------ reading
    def read(self) -> Dict[str, Optional[np.ndarray]]:
        if type(self).arrays is not None:
            return type(self).arrays
        if self.path is None:
            raise ValueError("protocol user_data needs path: the data file (.npz, .npy, .h5), e.g. "
                             "--set protocol.path=cells.npz")
        return read_arrays(Path(self.path), self.x_key, self.factors_key, self.aux_key)

    def load(self, model_name: str, seed_: int) -> ProtocolData:
        arrays = self.read()
        x, factors, u = arrays["x"], arrays.get("factors"), arrays.get("u")
        if u is not None and u.ndim == 1:  # integer labels → one-hot
            labels = np.unique(u, return_inverse=True)[1]
            u = np.eye(labels.max() + 1, dtype=np.float32)[labels]
        train = ArrayDataset(x, u=u, factors=factors)
        config = {"source": "arrays" if type(self).arrays is not None else str(self.path), "num_points": len(x),
                  "observation_shape": list(train.observation_shape),
                  "num_factors": 0 if factors is None else int(factors.shape[1]),
                  "aux_shape": None if u is None else list(u.shape[1:])}
        return ProtocolData(train=train, config=config)

    # ------------------------------------------------------------------ the model
    def likelihood_name(self, x: torch.Tensor) -> str:
        if self.likelihood != "auto":
            return self.likelihood
        binary = bool(((x == 0) | (x == 1)).all())
        return "bernoulli" if binary else "gaussian"

    def model_arguments(self, model_name: str, data: ProtocolData, training) -> Dict[str, Any]:
        train = data.train
        latent_dim = self.latent_dim or (train.factors.shape[1] if train.factors is not None else 10)
        arguments = dict(super().model_arguments(model_name, data, training), latent_dim=latent_dim,
                         likelihood=self.likelihood_name(train.x))
        shape = train.observation_shape
        if len(shape) == 3 and shape[1:] == (IMAGE_SIDE, IMAGE_SIDE):
            arguments.update(encoder="conv_encoder", decoder="conv_decoder")
        elif len(shape) == 1:
            nets = dict(hidden=tuple(self.hidden))
            arguments.update(encoder_args=nets, decoder_args=nets)
        else:
            raise ValueError(f"observations of shape {shape}: expected vectors (N, D) or 64 × 64 images "
                             f"(N, C, {IMAGE_SIDE}, {IMAGE_SIDE})")
        if model_name == "ivae" and train.u is not None:
            arguments["aux_dim"] = train.aux_shape[0]
        return arguments

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        train = data.train
        metrics: Dict[str, Any] = {"elbo": evidence_lower_bound(model, train, seed=context.seed)}
        if train.factors is not None:
            metrics.update(self.factor_metrics(model, train, context))
        metrics.update(train_seconds=context.result.train_seconds, epochs=len(context.result.history))
        return metrics

    def factor_metrics(self, model, train: ArrayDataset, context: RunContext) -> Dict[str, Any]:
        """MCC, R² and the array-level disentanglement metrics, fitted on one part and scored on another."""
        rng = np.random.default_rng(self.split_seed)
        points = rng.permutation(len(train))[: self.metric_points]
        subset = train.subset(points)
        codes, factors = encode(model, subset), subset.factors.numpy()
        num_test = max(1, int(round(self.test_fraction * len(points))))
        test, fit = slice(0, num_test), slice(num_test, None)
        classes = discrete_factors(factors)
        plot_matched_latents(factors, codes, context.run.file("matched_latents.png"))
        return {
            "mcc": mcc(factors, codes),
            "mcc_spearman": mcc(factors, codes, method="spearman"),
            "r2": linear_r2(factors, codes),
            **array_metrics(codes[fit], classes[fit], codes[test], classes[test]),
        }


def read_arrays(path: Path, x_key: str, factors_key: Optional[str], aux_key: Optional[str]
                ) -> Dict[str, Optional[np.ndarray]]:
    """x, factors and u from a .npz / .npy / HDF5 file; errors name the file and the keys it holds."""
    if not path.is_file():
        raise FileNotFoundError(f"protocol user_data: {path} is not a file (expected .npz, .npy, .h5 or .hdf5)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if factors_key or aux_key:
            raise ValueError(f"{path}: a .npy file holds one array (x); save factors and u together in a .npz")
        return {"x": np.load(path), "factors": None, "u": None}
    if suffix == ".npz":
        with np.load(path) as archive:
            return _pick(path, {key: archive[key] for key in archive.files}, x_key, factors_key, aux_key)
    if suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as file:
            keys = [key for key in file.keys() if isinstance(file[key], h5py.Dataset)]
            wanted = [key for key in (x_key, factors_key, aux_key) if key in keys]
            return _pick(path, {key: file[key][()] for key in wanted} | {key: None for key in keys
                                                                        if key not in wanted}, x_key, factors_key,
                         aux_key)
    raise ValueError(f"protocol user_data: {path} has suffix {suffix!r}; expected .npz, .npy, .h5 or .hdf5")


def _pick(path: Path, arrays: Dict[str, Any], x_key, factors_key, aux_key) -> Dict[str, Optional[np.ndarray]]:
    picked = {}
    for role, key in (("x", x_key), ("factors", factors_key), ("u", aux_key)):
        if key is None:
            picked[role] = None
            continue
        if key not in arrays:
            raise KeyError(f"{path} has no array {key!r} (for {role}); it holds: {', '.join(sorted(arrays))}")
        picked[role] = np.asarray(arrays[key])
    return check_arrays(picked["x"], picked["factors"], picked["u"], source=str(path))


def check_arrays(x, factors=None, u=None, source: str = "the arrays") -> Dict[str, Optional[np.ndarray]]:
    """The arrays as float32 numpy, with one row per point in each; a mismatch is named."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2:
        raise ValueError(f"{source}: x must have one row per point, shape (N, ...); got {x.shape}")
    out = {"x": x, "factors": None, "u": None}
    if factors is not None:
        factors = np.asarray(factors, dtype=np.float32)
        factors = factors[:, None] if factors.ndim == 1 else factors
        if factors.ndim != 2 or len(factors) != len(x):
            raise ValueError(f"{source}: factors must be (N, F) with N = {len(x)} rows like x; got {factors.shape}")
        out["factors"] = factors
    if u is not None:
        u = np.asarray(u)
        if len(u) != len(x) or u.ndim > 2:
            raise ValueError(f"{source}: u must be (N, A) or (N,) labels with N = {len(x)}; got {u.shape}")
        out["u"] = u.astype(np.float32) if u.ndim == 2 else u
    return out


def register_arrays(name: str, x, factors=None, u=None, **defaults: Any) -> str:
    """Register arrays (x: (N, ...), factors: (N, F), u: (N, A) or (N,) labels) as protocol ``name``;
    ``defaults`` change the protocol's setting defaults (e.g. ``latent_dim=5``). Returns ``name``."""
    arrays = check_arrays(x, factors, u, source=f"protocol {name}")
    settings = tuple(Setting(**{**s.__dict__, "default": defaults.pop(s.name)}) if s.name in defaults else s
                     for s in UserData.settings if s.name not in ("path", "x_key", "factors_key", "aux_key"))
    if defaults:
        raise ValueError(f"register_arrays: unknown settings {sorted(defaults)}; valid: "
                         f"{', '.join(s.name for s in settings)}")
    doc = f"User data {name!r}: {len(arrays['x'])} points" + (", with factors" if factors is not None else "") + (
        ", with an auxiliary variable" if u is not None else "") + "."
    protocol = type(f"UserData_{name}", (UserData,), {"name": name, "settings": settings, "arrays": arrays,
                                                      "__doc__": doc, "__module__": __name__,
                                                      "provides": frozenset({AUX}) if u is not None else frozenset()})
    PROTOCOLS.register(name, replace=True)(protocol)  # registering a name again replaces its arrays
    return name


def register_dataset(name: str, dataset: torch.utils.data.Dataset, **defaults: Any) -> str:
    """Register a torch ``Dataset`` as protocol ``name``. Items are ``x``, ``(x, factors)``, ``(x, factors,
    u)`` or mappings with keys ``x`` and optionally ``factors``, ``u``; they are gathered into arrays once."""
    xs, factors, us = [], [], []
    for index in range(len(dataset)):
        item = dataset[index]
        if isinstance(item, dict):
            x, f, u = item["x"], item.get("factors"), item.get("u")
        elif isinstance(item, (tuple, list)):
            x, f, u = (list(item) + [None, None])[:3]
        else:
            x, f, u = item, None, None
        xs.append(np.asarray(x))
        factors.append(None if f is None else np.asarray(f))
        us.append(None if u is None else np.asarray(u))
    stack = lambda values: None if values[0] is None else np.stack(values)  # noqa: E731
    return register_arrays(name, np.stack(xs), factors=stack(factors), u=stack(us), **defaults)
