"""A benchmark protocol: its data, what its batches carry, its training defaults, the evaluation its
ground truth supports, and its pictures.

A protocol is registered by name in :data:`pyrodisent.registry.PROTOCOLS` and declares

- ``settings``: its own settings (the data's size and seed, the evaluation's sample sizes, and the
  settings of the networks it builds for a model), each a :class:`~.settings.Setting`;
- ``training``: its defaults for the trainer's settings (epochs, batch size, learning rate, …);
- ``provides``: what its batches carry beyond ``x`` (:data:`AUX`, :data:`ACTION`, :data:`GRAPH`,
  :data:`SEQUENCE`, ``PAIR``). A model class states what it needs in ``batch_needs``; a model whose needs the
  protocol does not provide is refused by name before anything runs.

and implements :meth:`Protocol.load` (the data), :meth:`Protocol.model_arguments` (what the data fixes
about a model: observation shape, data size, auxiliary size, networks) and :meth:`Protocol.evaluate`
(metrics and pictures). :func:`pyrodisent.runs.runner.run` carries a run out; nothing here writes files
except into the run directory it is handed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, FrozenSet, List, Mapping, Tuple

from pyrodisent.data.labels import LABELS
from pyrodisent.data.pairs import PAIR
from pyrodisent.protocols.settings import Setting, Settings

if TYPE_CHECKING:  # pragma: no cover
    from pyrodisent.data.arrays import ArrayDataset
    from pyrodisent.training.run_directory import RunDirectory
    from pyrodisent.training.trainer import TrainingResult

#: what a batch may carry beyond the observations ``x``
AUX = "aux"            # an auxiliary variable u per point (``batch.u``): segment, condition, label
ACTION = "action"      # an action / intervention index per point (``batch["action"]``)
GRAPH = "graph"        # edges and non-edge pairs between points (a ``GraphDataset``)
SEQUENCE = "sequence"  # a time axis: each point is a sequence of frames
#: PAIR = "pair": a second observation per point sharing some factors (``batch["x_pair"]``, pyrodisent.data.pairs)
#: LABELS = "labels": labels of the factors, some points labelled (``batch["labels"]``, ``batch["labelled"]``,
#: pyrodisent.data.labels)
BATCH_FIELDS = (AUX, ACTION, GRAPH, SEQUENCE, PAIR, LABELS)


def batch_needs(model_factory) -> FrozenSet[str]:
    """What a registered model needs from a batch (its class's ``batch_needs``; nothing by default)."""
    return frozenset(getattr(model_factory, "batch_needs", frozenset()))


class ProtocolData(SimpleNamespace):
    """What :meth:`Protocol.load` returns: ``train`` (the training :class:`ArrayDataset`), ``config``
    (a description of the data for ``config.json``) and whatever else the protocol's evaluation needs."""

    train: "ArrayDataset"
    config: Dict[str, Any]


@dataclass
class RunContext:
    """What a protocol's evaluation may use besides the model and the data."""

    model_name: str
    seed: int
    settings: Mapping[str, Any]          # the protocol's resolved settings
    training: Mapping[str, Any]          # the trainer's resolved settings
    run: "RunDirectory"
    result: "TrainingResult"
    device: str = "cpu"
    progress: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)


class Protocol:
    """Base class of benchmark protocols (see the module docstring)."""

    settings: ClassVar[Tuple[Setting, ...]] = ()
    training: ClassVar[Dict[str, Any]] = {}
    provides: ClassVar[FrozenSet[str]] = frozenset()
    #: the model an example trains when ``--model`` is not given
    default_model: ClassVar[str] = "vae"
    #: models trained beside the main one when the protocol's ``baselines`` setting is on: prefix → model
    baseline_models: ClassVar[Dict[str, str]] = {}
    #: the metrics of the table printed beside the baselines'
    comparison_columns: ClassVar[Tuple[str, ...]] = ()
    #: the default sizes of the posterior diagnosis every run gets (guide draws and points of the
    #: InferenceData, importance samples per point for PSIS k̂; settings ``diagnosis_draws``,
    #: ``diagnosis_points``, ``diagnosis_samples``); an empty dict: the protocol diagnoses in its evaluation
    diagnosis: ClassVar[Dict[str, int]] = dict(draws=100, points=200, samples=1000)

    #: settings that deliberately replace an inherited attribute of the same name (e.g. a ``dataset`` setting
    #: in place of :class:`~.image_benchmarks.ImageBenchmark`'s ``dataset(seed)`` method, which the protocol
    #: then does not use); any other setting that would hide an attribute is refused
    replaced_attributes: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, **settings: Any):
        self.values = self.declared().resolve(settings)
        for name, value in self.values.items():
            if hasattr(type(self), name) and name not in type(self).replaced_attributes:
                raise TypeError(f"protocol setting {name!r} of {type(self).__name__} hides its attribute of that name")
            setattr(self, name, value)

    # ------------------------------------------------------------------ declarations
    @classmethod
    def declared(cls) -> Settings:
        """The protocol's settings, and (where it has a posterior diagnosis) the diagnosis's sizes."""
        return Settings("protocol", tuple(cls.settings) + diagnosis_settings(cls.diagnosis))

    @classmethod
    def describe(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else cls.__name__

    def missing_needs(self, model_factory) -> FrozenSet[str]:
        """What a model needs from a batch that this protocol's batches do not carry (on the class: what
        it never carries; an instance may carry more, e.g. user data with an auxiliary variable)."""
        return batch_needs(model_factory) - frozenset(self.provides)

    # ------------------------------------------------------------------ what a run asks of a protocol
    def load(self, model_name: str, seed: int) -> ProtocolData:
        """The data of a run (for a model that needs ``batch_needs``). Raises ValueError for settings
        only the data can judge. Writes nothing."""
        raise NotImplementedError

    def training_arguments(self, training: Dict[str, Any], data: ProtocolData, model_name: str) -> Dict[str, Any]:
        """The trainer's arguments from its resolved settings (a protocol may derive some, e.g. epochs
        from a number of steps)."""
        return dict(training)

    def model_arguments(self, model_name: str, data: ProtocolData, training: Mapping[str, Any]) -> Dict[str, Any]:
        """The model's constructor arguments this protocol fixes (the user's model settings go on top)."""
        train = data.train
        return dict(observation_shape=train.observation_shape, num_data=len(train))

    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        """The metrics of a trained model (flat; written to metrics.json) and the protocol's pictures."""
        raise NotImplementedError

    def training_callbacks(self, data: ProtocolData, seed: int) -> List[Callable]:
        """Functions ``(trainer, epoch, row)`` the trainer calls after each epoch (e.g. re-mining the pairs of
        the training set with the model being trained); none by default."""
        return []

    def diagnosis_data(self, data: ProtocolData) -> "ArrayDataset":
        """The points the posterior diagnosis (InferenceData, PSIS k̂) is computed on: the first
        ``diagnosis["num_obs"]`` training points, the same for every model and seed of one data set."""
        return data.train

    def title(self, model_name: str, seed: int) -> str:
        return f"{model_name} on {self.name}, seed {seed}"

    name: ClassVar[str] = ""


def diagnosis_settings(defaults: Mapping[str, int]) -> Tuple[Setting, ...]:
    """The settings of the posterior diagnosis with ``defaults`` (none when ``defaults`` is empty)."""
    if not defaults:
        return ()
    from pyrodisent.evaluation.diagnostics import MIN_IMPORTANCE_SAMPLES
    from pyrodisent.runs.flags import int_at_least, nonnegative_int, positive_int

    return (
        Setting("diagnosis_points", defaults["points"], "points of the posterior diagnosis (inference_data.nc with "
                "the pointwise log-likelihood, PSIS k̂); 0 switches it off", nonnegative_int),
        Setting("diagnosis_draws", defaults["draws"], "guide draws per point in inference_data.nc", positive_int),
        Setting("diagnosis_samples", defaults["samples"], "importance samples per point for PSIS k̂",
                int_at_least(MIN_IMPORTANCE_SAMPLES, "PSIS fits its Pareto tail to the largest fifth of the weights: "
                             "it needs ≥ 5 of them")),
    )


def describe_mismatch(protocol, model_name: str, missing, compatible: List[str]) -> str:
    return (f"model {model_name!r} needs {', '.join(sorted(missing))} in each batch, which protocol "
            f"{protocol.name!r} does not provide (its batches carry: "
            f"{', '.join(sorted(protocol.provides)) or 'x only'}); models that run on it: "
            f"{', '.join(compatible) or 'none'}")

