"""Time the disentanglement metrics suite, and DCI against a serial disentanglement_lib-style loop.

    python benchmarks/metrics_speed.py                    # 10,000 codes (the study's size; minutes)
    python benchmarks/metrics_speed.py --num-points 2000  # quick look
    python benchmarks/metrics_speed.py --dci-only --repeats 3 --num-points 3000  # DCI timing only

Timings are wall-clock: on a machine shared with other jobs, check the idle figures printed before
and after, and prefer --repeats (the fastest run of each is compared).

Codes: K = 10 (5 noisy, mildly entangled functions of the factors + 5 nuisance codes), F = 5 factors
with dSprites' sizes (shape 3, scale 6, orientation 40, x 32, y 32). Held-out sets have half as many
points, as in disentanglement_lib (10,000 / 5,000). Seeds are fixed.

The DCI check fits one GradientBoostingClassifier per factor one after the other on (K, N) "mus"
arrays, as disentanglement_lib does, then compares pyrodisent's ``dci`` (the trees of each boosting
stage grown in parallel threads) with it: all four scores (two of them functions of the whole
importance matrix) must be exactly equal.
Both use ``random_state=0`` for every classifier (disentanglement_lib leaves the tie-breaking order
to numpy's global generator, which makes its own result vary between runs).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier


from pyrodisent.data.ground_truth import GroundTruthData, as_generator
from pyrodisent.metrics.beta_vae_score import beta_vae_score
from pyrodisent.metrics.dci import dci
from pyrodisent.metrics.factor_vae_score import factor_vae_score
from pyrodisent.metrics.irs import irs
from pyrodisent.metrics.mig import mig
from pyrodisent.metrics.modularity_explicitness import modularity_explicitness
from pyrodisent.metrics.sap import sap
from pyrodisent.metrics.total_correlation import unsupervised_scores

FACTOR_SIZES = (3, 6, 40, 32, 32)  # dSprites without its constant colour factor
NUM_CODES = 10
NOISE = 0.15


class NoisyFactors(GroundTruthData):
    """Observations: the factors scaled to [0, 1] plus Gaussian noise (5 numbers)."""

    factor_sizes = FACTOR_SIZES
    observation_shape = (len(FACTOR_SIZES),)

    def sample_factors(self, num, random_state):
        rng = as_generator(random_state)
        return np.stack([rng.integers(0, size, num) for size in FACTOR_SIZES], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        rng = as_generator(random_state)
        scaled = factors / (np.array(FACTOR_SIZES) - 1.0)
        return (scaled + NOISE * rng.normal(size=scaled.shape)).astype(np.float32)


def representation(observations: np.ndarray) -> np.ndarray:
    """A deterministic, mildly entangled encoder: 5 informative codes + 5 codes of hashed noise."""
    x = np.asarray(observations, dtype=np.float64)
    informative = np.tanh(2.0 * x - 1.0) + 0.3 * np.roll(x, 1, axis=1)
    nuisance = np.sin(37.0 * x @ np.arange(1.0, 6.0)[:, None] * np.arange(1.0, 6.0)[None, :])
    return np.hstack([informative, nuisance])


def sample_codes(num_points: int, seed: int):
    rng = np.random.default_rng(seed)
    data = NoisyFactors()
    factors = data.sample_factors(num_points, rng)
    return representation(data.sample_observations_from_factors(factors, rng)), factors


def reference_dci(mus_train, ys_train, mus_test, ys_test, random_state=0):
    """disentanglement_lib's loop: (K, N) codes, one classifier per factor, one after the other."""
    num_factors, num_codes = ys_train.shape[0], mus_train.shape[0]
    importance = np.zeros((num_codes, num_factors))
    train_accuracy, test_accuracy, seconds = [], [], []
    for j in range(num_factors):
        start = time.perf_counter()
        model = GradientBoostingClassifier(random_state=random_state)
        model.fit(mus_train.T, ys_train[j, :])
        importance[:, j] = np.abs(model.feature_importances_)
        train_accuracy.append(np.mean(model.predict(mus_train.T) == ys_train[j, :]))
        test_accuracy.append(np.mean(model.predict(mus_test.T) == ys_test[j, :]))
        seconds.append(time.perf_counter() - start)
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=num_factors)
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=num_codes)
    scores = {
        "disentanglement": float(np.sum(per_code * importance.sum(axis=1) / importance.sum())),
        "completeness": float(np.sum(per_factor * importance.sum(axis=0) / importance.sum())),
        "informativeness": float(np.mean(test_accuracy)),
        "informativeness_train": float(np.mean(train_accuracy)),
    }
    return scores, seconds


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def idle_fraction(seconds: float = 1.0) -> float:
    """Fraction of CPU time nobody used over ``seconds`` (Linux /proc/stat; NaN elsewhere)."""
    def totals():
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]

    try:
        total0, idle0 = totals()
        time.sleep(seconds)
        total1, idle1 = totals()
    except OSError:
        return float("nan")
    return (idle1 - idle0) / max(total1 - total0, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=10000, help="training codes (held-out: half)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="alternate reference and dci this many times")
    parser.add_argument("--dci-only", action="store_true", help="skip the other metrics")
    args = parser.parse_args(argv)
    num_train, num_test = args.num_points, args.num_points // 2

    print(f"codes: train {num_train} x {NUM_CODES}, test {num_test}; factor sizes {FACTOR_SIZES}")
    print(f"cpu cores: {os.cpu_count()}; idle before: {100 * idle_fraction():.0f}%")
    codes_train, factors_train = sample_codes(num_train, args.seed)
    codes_test, factors_test = sample_codes(num_test, args.seed + 1)
    data = NoisyFactors()

    print(f"\nDCI: serial disentanglement_lib-style loop vs pyrodisent.metrics.dci (n_jobs=-1: {os.cpu_count()} threads)")
    reference_times, ours_times, equal = [], [], True
    for repeat in range(args.repeats):
        (reference_scores, seconds), reference_time = timed(
            reference_dci, codes_train.T, factors_train.T, codes_test.T, factors_test.T
        )
        ours, ours_time = timed(dci, codes_train, factors_train, codes_test, factors_test)
        equal = equal and ours == reference_scores
        reference_times.append(reference_time)
        ours_times.append(ours_time)
        print(
            f"  run {repeat}: reference {reference_time:8.2f} s, dci {ours_time:8.2f} s, "
            f"ratio {ours_time / reference_time:.3f}, identical {ours == reference_scores}",
            flush=True,
        )
    print(f"  reference scores: {reference_scores}")
    print(f"  dci scores:       {ours}")
    print(f"  values identical: {equal}")
    per_factor = ", ".join(f"{size} classes {t:.1f} s" for size, t in zip(FACTOR_SIZES, seconds))
    print(f"  reference time per factor (last run): {per_factor}")
    ratio = min(ours_times) / min(reference_times)
    print(f"  time ratio ours / reference (fastest runs): {ratio:.3f} (target <= 0.5)")

    if not args.dci_only:
        suite = [
            ("mig", lambda: mig(codes_train, factors_train)),
            ("sap", lambda: sap(codes_train, factors_train, codes_test, factors_test)),
            (
                "modularity_explicitness",
                lambda: modularity_explicitness(codes_train, factors_train, codes_test, factors_test),
            ),
            ("irs", lambda: irs(codes_train, factors_train)),
            ("unsupervised_scores", lambda: unsupervised_scores(codes_train)),
            ("beta_vae_score", lambda: beta_vae_score(data, representation, args.seed)),
            ("factor_vae_score", lambda: factor_vae_score(data, representation, args.seed)),
        ]
        print("\nsuite (default parameters; dci as timed above):")
        times = {"dci": min(ours_times)}
        print(f"  {'dci':26s} {times['dci']:8.2f} s")
        for name, run in suite:
            value, times[name] = timed(run)
            shown = ", ".join(f"{k}={v:.4f}" for k, v in value.items()) if isinstance(value, dict) else f"{value:.4f}"
            print(f"  {name:26s} {times[name]:8.2f} s   {shown}", flush=True)
        print(f"  {'total':26s} {sum(times.values()):8.2f} s")
    print(f"idle after: {100 * idle_fraction():.0f}%")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
