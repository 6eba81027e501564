"""How much of a concepts run's localisation is the draw of the fresh images its probes are fitted and scored on.

    python benchmarks/concept_probe_noise.py runs/clap-semi-50k-1 runs/beta-50k-1          # 5 draws each
    python benchmarks/concept_probe_noise.py RUN_DIR --draws 10 --probe-fit 5000 --probe-test 5000

A concepts run scores each label's localisation — (own block − best other block) / (1 − majority rate), from
logistic-regression probes — on one draw of fresh labelled images (the protocol's ``probe_fit`` / ``probe_test``,
drawn from ``[seed, 2]``). Two models whose scores differ by less than that draw's spread are not told apart by
them. This re-scores each finished run's trained model (``pyrodisent.runs.runner.restore``: its config and
checkpoint; nothing in the run directory is written) on ``--draws`` further draws of the same sizes, or of the sizes
given, each from ``[seed, 2, 1000 + r]`` so none repeats the run's own, and prints per label the mean ± sd and the
range of the localisation over the draws. β-VAE's probe blocks are chosen on each draw's fitting images again, as
the protocol chooses them, so that choice's noise is part of the spread. ``--json FILE`` writes every draw's
localisations.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from pyrodisent.evaluation.concepts import concept_metrics
from pyrodisent.runs.runner import restore


def localisation_draws(run_path: str, draws: int, probe_fit: int | None, probe_test: int | None) -> dict:
    """``{"run", "model", "seed", "labels": {name: [localisation on each draw]}}`` for one finished run."""
    prepared, trainer, _ = restore(run_path, device="cpu")
    protocol, data, seed = prepared.resolved.protocol, prepared.data, prepared.resolved.seed
    names = list(data.labels.names)
    scores = {name: [] for name in names}
    for draw in range(draws):
        fresh = np.random.default_rng([seed, 2, 1000 + draw])
        fit, test = protocol.probe_images(data.dataset, data.labels, fresh, probe_fit, probe_test)
        metrics = concept_metrics(trainer.model, fit, test, names, data.labels.num_classes, seed,
                                  intervention_points=1)
        for name in names:
            scores[name].append(metrics[f"localisation_{name}"])
    return dict(run=run_path, model=prepared.resolved.model, seed=seed, probe_fit=len(fit), probe_test=len(test),
                labels=scores)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="finished concepts run directories")
    parser.add_argument("--draws", type=int, default=5, help="fresh draws of probe images per run")
    parser.add_argument("--probe-fit", type=int, default=None, help="images fitting the probes (the run's own size)")
    parser.add_argument("--probe-test", type=int, default=None, help="images scoring them (the run's own size)")
    parser.add_argument("--num-threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write every draw's localisations here")
    args = parser.parse_args(argv)
    if args.draws < 2:
        parser.error(f"--draws must be at least 2 to give a spread, got {args.draws}")
    torch.set_num_threads(args.num_threads)
    results = [localisation_draws(path, args.draws, args.probe_fit, args.probe_test) for path in args.runs]
    print(f"localisation over {args.draws} draws of fresh probe images: mean ± sd [min, max]")
    for result in results:
        print(f"{result['run']} ({result['model']}, seed {result['seed']}, probes on "
              f"{result['probe_fit']:,} / {result['probe_test']:,} images)")
        for name, values in result["labels"].items():
            values = np.asarray(values)
            print(f"  {name:<20} {values.mean():6.3f} ± {values.std(ddof=1):.3f}  [{values.min():.3f}, "
                  f"{values.max():.3f}]")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
