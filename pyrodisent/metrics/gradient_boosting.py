"""scikit-learn's ``GradientBoostingClassifier`` with the trees of each stage grown in parallel.

DCI (disentanglement_lib) fits ``GradientBoostingClassifier()`` with its defaults (multinomial
deviance, 100 stages, learning rate 0.1, depth-3 least-squares trees) once per factor, one factor after
the other. With C classes a stage grows C trees, one per class, on the negative gradients ``y_k - p_k``
of the *same* raw predictions (Friedman 2001, Algorithm 6): the C trees of a stage are independent.
scikit-learn grows them one after the other on one core, and most of its time is spent inside its tree
builder, which releases the GIL.

:func:`fit_gradient_boosting` runs the same boosting loop, but hands the trees of a stage to a thread
pool: each tree is grown by ``sklearn.tree.DecisionTreeRegressor`` itself, with the splitter seed it
would have drawn inside the classifier, and every other number (the prior log-odds, the deviance
gradients, the per-leaf Newton steps, their sums) is computed by the same scikit-learn functions or
numpy reductions in the same order. The predictions and importances are therefore *identical*, bit for
bit, to ``GradientBoostingClassifier(random_state=random_state)`` (tests compare them with ``==``).
The loop also keeps the raw predictions it already has, instead of re-traversing every tree to
predict the training codes, as the reference's ``predict(x_train)`` does.

Mirroring the classifier bit for bit rests on scikit-learn internals: the deviance comes from the
private ``sklearn._loss`` (the module the classifier itself uses), the splitter seeds follow the
classifier's draws from its generator, and the trees use ``criterion="squared_error"`` as the classifier
does from scikit-learn 1.9 on (earlier releases used "friedman_mse": the same splits, other rounding).
So this loop is used only on the releases it was verified on, :data:`VERIFIED_SCIKIT_LEARN`
(``tests/metrics/test_gradient_boosting.py`` compares it with the classifier there), and the private
module is imported only when the loop runs: :func:`loop_unavailable_reason` says why it cannot be used
elsewhere, and :func:`pyrodisent.metrics.dci.dci` then fits the public classifier instead.
"""
from __future__ import annotations

import re
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np
import sklearn
from joblib import effective_n_jobs
from sklearn import config_context
from sklearn.dummy import DummyClassifier
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import check_random_state

#: scikit-learn releases on which this loop was verified identical to ``GradientBoostingClassifier``:
#: from the first (inclusive) up to the second (exclusive), compared by major.minor.
VERIFIED_SCIKIT_LEARN = ("1.9", "1.10")
#: the private module the deviance comes from (imported only when the loop runs).
PRIVATE_LOSS_MODULE = "sklearn._loss.loss"

#: ``GradientBoostingClassifier`` defaults, the ones disentanglement_lib uses.
NUM_STAGES = 100
LEARNING_RATE = 0.1
MAX_DEPTH = 3
#: each scikit-learn tree seeds its splitter with ``random_state.randint(0, RAND_R_MAX)``.
RAND_R_MAX = 2147483647
_EPSILON = np.finfo(np.float64).eps


@dataclass
class BoostedTrees:
    """What DCI needs from one factor's classifier."""

    importance: np.ndarray  # (K,) impurity-based importances (sum to one, or all zero)
    train_predictions: np.ndarray  # (N,) predicted classes of the training codes
    test_predictions: np.ndarray  # (M,) predicted classes of the held-out codes


def fit_gradient_boosting(
    codes_train: np.ndarray,
    factor_train: np.ndarray,
    codes_test: np.ndarray,
    random_state: Union[None, int, np.random.RandomState] = 0,
    executor: Optional[Executor] = None,
) -> BoostedTrees:
    """``GradientBoostingClassifier(random_state=random_state)`` fitted on one factor; see the module doc.

    :param codes_train: ``(N, K)`` codes; ``factor_train``: ``(N,)`` labels, at least two classes.
    :param codes_test: ``(M, K)`` codes to predict.
    :param random_state: the classifier's ``random_state`` (it orders the codes each split visits,
        which breaks ties between equally good splits).
    :param executor: where the trees of a stage are grown (default: one after the other, here).
    """
    classes, labels = np.unique(factor_train, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"a classifier needs at least two classes in factor_train; got {classes.size}")
    values = np.ascontiguousarray(codes_train, dtype=np.float32)  # the trees' own dtype
    test_values = np.ascontiguousarray(codes_test, dtype=np.float32)
    num_points = values.shape[0]
    num_classes = classes.size
    trees_per_stage = 1 if num_classes == 2 else num_classes
    rng = check_random_state(random_state)
    labels = labels.astype(np.float64)
    weights = np.ones(num_points)
    deviance = _deviance(num_classes)

    # Initial raw predictions: the link of the class frequencies (the classifier's "prior" estimator).
    prior = DummyClassifier(strategy="prior").fit(values, labels, sample_weight=weights)
    prior = np.clip(prior.predict_proba(values[:1]), _EPSILON, 1 - _EPSILON)
    initial = deviance.link.link(prior[:, 1] if num_classes == 2 else prior).reshape(1, -1)
    raw_train = np.repeat(initial, num_points, axis=0)
    raw_test = np.repeat(initial, test_values.shape[0], axis=0)
    # One-vs-rest targets of the trees (binary: the positive class).
    targets = [np.array(labels == k + (num_classes == 2), dtype=np.float64) for k in range(trees_per_stage)]

    tree_importances = []
    for _stage in range(NUM_STAGES):
        negative_gradient = -deviance.gradient(y_true=labels, raw_prediction=raw_train)
        negative_gradient = negative_gradient.reshape(num_points, -1)
        trees = []
        for k in range(trees_per_stage):
            splitter_seed = np.random.RandomState()
            splitter_seed.set_state(rng.get_state())
            rng.randint(0, RAND_R_MAX)  # what the classifier's k-th tree draws from the shared generator
            trees.append((values, test_values, np.ascontiguousarray(negative_gradient[:, k]), targets[k],
                          weights, splitter_seed, num_classes))
        if executor is None:
            grown = [_grow_tree(*tree) for tree in trees]
        else:
            grown = [job.result() for job in [executor.submit(_grow_tree, *tree) for tree in trees]]
        for k, (importance, train_step, test_step) in enumerate(grown):
            if importance is not None:
                tree_importances.append(importance)
            raw_train[:, k] += train_step
            raw_test[:, k] += test_step

    if tree_importances:
        importance = np.mean(tree_importances, axis=0, dtype=np.float64)
        importance = importance / np.sum(importance)
    else:
        importance = np.zeros(values.shape[1])
    return BoostedTrees(importance, classes[_decide(raw_train)], classes[_decide(raw_test)])


def loop_unavailable_reason(version: Optional[str] = None) -> Optional[str]:
    """Why :func:`fit_gradient_boosting` cannot stand in for the classifier here; None when it can.

    :param version: a scikit-learn version string (default: the installed one). Outside
        :data:`VERIFIED_SCIKIT_LEARN`, or when the private deviance module cannot be imported (moved or
        renamed in a release), the reason says so.
    """
    version = sklearn.__version__ if version is None else version
    low, high = (_major_minor(bound) for bound in VERIFIED_SCIKIT_LEARN)
    if not low <= _major_minor(version) < high:
        return (f"scikit-learn {version} is outside the releases the boosting loop was verified on "
                f"(>={VERIFIED_SCIKIT_LEARN[0]}, <{VERIFIED_SCIKIT_LEARN[1]})")
    try:
        _private_losses()
    except ImportError as error:
        return f"scikit-learn {version} has no usable {PRIVATE_LOSS_MODULE} ({error})"
    return None


def boosting_executor(n_jobs: Optional[int]) -> Optional[ThreadPoolExecutor]:
    """Threads for the trees (joblib convention: -1 = one per core; 1 or None = none)."""
    workers = effective_n_jobs(n_jobs) if n_jobs is not None else 1
    return ThreadPoolExecutor(max_workers=workers) if workers > 1 else None


def _grow_tree(values, test_values, negative_gradient, target, weights, splitter_seed, num_classes):
    """One tree of a stage: least-squares fit, Newton step per leaf, and the shrunk raw increments."""
    tree = DecisionTreeRegressor(criterion="squared_error", max_depth=MAX_DEPTH, random_state=splitter_seed)
    with config_context(skip_parameter_validation=True):  # fixed, valid parameters; 4,000 fits a factor
        tree.fit(values, negative_gradient, sample_weight=weights, check_input=False)
    # tree_.apply skips the input checks of tree.apply: both arrays are already C-contiguous float32.
    leaves = tree.tree_.apply(values)
    leaf_values = np.zeros(tree.tree_.node_count)
    for leaf in np.nonzero(tree.tree_.children_left == -1)[0]:
        indices = np.nonzero(leaves == leaf)[0]
        gradient = negative_gradient.take(indices, axis=0)
        probability = target.take(indices, axis=0) - gradient
        numerator = np.average(gradient)
        if num_classes > 2:
            numerator *= (num_classes - 1) / num_classes  # Friedman's (K - 1) / K, kept by scikit-learn
        denominator = np.average(probability * (1 - probability))
        leaf_values[leaf] = 0.0 if abs(denominator) < 1e-150 else float(numerator) / float(denominator)
    step = LEARNING_RATE * leaf_values
    importance = tree.tree_.compute_feature_importances(normalize=False) if tree.tree_.node_count > 1 else None
    return importance, step.take(leaves, axis=0), step.take(tree.tree_.apply(test_values), axis=0)


def _decide(raw: np.ndarray) -> np.ndarray:
    """Class indices from raw predictions, as ``GradientBoostingClassifier.predict``."""
    if raw.shape[1] == 1:
        return (raw[:, 0] >= 0).astype(np.intp)
    return np.argmax(raw, axis=1)


def _major_minor(version: str) -> Tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a scikit-learn version: {version!r} (expected 'major.minor…')")
    return int(match.group(1)), int(match.group(2))


def _private_losses():
    """scikit-learn's (private) deviance classes: ``(HalfBinomialLoss, HalfMultinomialLoss)``."""
    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss

    return HalfBinomialLoss, HalfMultinomialLoss


def _deviance(num_classes: int):
    """The classifier's loss object for ``num_classes`` classes (binomial for two)."""
    binomial, multinomial = _private_losses()
    return binomial() if num_classes == 2 else multinomial(n_classes=num_classes)
