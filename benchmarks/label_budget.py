"""How many labelled images the concepts protocol's encoder needs to learn each label within the protocol's budget.

    python benchmarks/label_budget.py                                  # 500 … 5,000 labelled images, seeds 0–2
    python benchmarks/label_budget.py --labelled 500 5000 --seeds 0 --steps 5000
    python benchmarks/label_budget.py --labelled 5000 --labels heart square            # some labels only
    python benchmarks/label_budget.py --labelled 5000 --label-weights 1 1 0.1 0.1     # one loss weight per label

The ceiling of what a semi-supervised concept model (CCVAE, CLAP) can learn from its labels alone: the protocol's
encoder (``conv_encoder``) with one linear output per class, trained by cross-entropy on the labelled images only
— no reconstruction, no prior, no posterior noise — for the protocol's steps with its batch size and Adam learning
rate; each label's accuracy on fresh images against its majority rate, and the lift (accuracy − majority) /
(1 − majority): 0 is guessing the commonest class, 1 is every image right. The protocol's training set has 5,000
images, so 500 labelled images are its labelled fraction 0.1 and 5,000 its fraction 1.0. A label this classifier
cannot learn from n images at this budget is one a concept model with n labels can learn only from what its
reconstruction term teaches the encoder. The labels share the encoder and compete for it: ``--labels`` fits some of
them alone, ``--label-weights`` weighs each label's cross-entropy (procedural dSprites: the shape labels are
learned from 5,000 images alone or with the size and position labels weighted 0.1, not with all four at 1).

Measured on a shared 2-CPU machine (one thread; ``python benchmarks/label_budget.py``, about 11 minutes), see the
README's concept models section for the table.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from pyrodisent.data.labels import label_set
from pyrodisent.metrics.concepts import lift_over_majority, majority_rate
from pyrodisent.protocols.concepts import CONCEPTS_DEFAULTS, Concepts
from pyrodisent.protocols.image_benchmarks import named_ground_truth
from pyrodisent.registry import NETWORKS


def train_label_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes, steps: int, batch_size: int,
                           lr: float, seed: int, label_weights=None) -> nn.Module:
    """The encoder with a linear output of sum(num_classes) logits, fitted by the per-label cross-entropies summed
    with ``label_weights`` (default: 1 each)."""
    label_weights = [1.0] * len(num_classes) if label_weights is None else list(label_weights)
    torch.manual_seed(seed)
    network = NETWORKS.build("conv_encoder", in_shape=tuple(images.shape[1:]), out_shape=sum(num_classes))
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        logits = network(images[index]).split(list(num_classes), dim=-1)
        loss = sum(weight * nn.functional.cross_entropy(part, labels[index, i])
                   for i, (weight, part) in enumerate(zip(label_weights, logits)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return network


@torch.no_grad()
def label_accuracy(network: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes) -> np.ndarray:
    logits = torch.cat([network(chunk) for chunk in images.split(500)]).split(list(num_classes), dim=-1)
    return np.array([(part.argmax(-1) == labels[:, i]).float().mean().item() for i, part in enumerate(logits)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="dsprites_procedural", help="a dataset with a label set")
    parser.add_argument("--labelled", type=int, nargs="+", default=[500, 1000, 2000, 5000],
                        help="numbers of labelled images")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=CONCEPTS_DEFAULTS["steps"], help="the protocol's budget")
    parser.add_argument("--batch-size", type=int, default=Concepts.training["batch_size"])
    parser.add_argument("--lr", type=float, default=Concepts.training["lr"])
    parser.add_argument("--test-points", type=int, default=2_000, help="fresh images scoring each label")
    parser.add_argument("--labels", nargs="+", default=(), help="some of the dataset's labels, by name (default: all)")
    parser.add_argument("--label-weights", type=float, nargs="+", default=None,
                        help="the cross-entropy weight of each label, in the labels' order (default: 1 each)")
    parser.add_argument("--num-threads", type=int, default=1)
    args = parser.parse_args(argv)
    if min(args.labelled) < 1 or args.steps < 1 or args.batch_size < 1:
        parser.error("--labelled, --steps and --batch-size must be positive")
    torch.set_num_threads(args.num_threads)
    try:
        labels_of = label_set(args.dataset, args.labels)
    except ValueError as error:
        parser.error(str(error))
    names, num_classes = labels_of.names, labels_of.num_classes
    weights = [1.0] * len(names) if args.label_weights is None else args.label_weights
    if len(weights) != len(names) or min(weights) <= 0:
        parser.error(f"--label-weights: one weight > 0 per label ({', '.join(names)}), got {args.label_weights}")
    print(f"{args.dataset}: labels {', '.join(f'{n} (weight {w:g})' for n, w in zip(names, weights))}; "
          f"{args.steps} steps of {args.batch_size}, Adam {args.lr:g}; {args.test_points} test images; "
          f"seeds {args.seeds}", flush=True)
    columns = "  ".join(f"{name:>16}" for name in names)
    print(f"{'labelled':>8}  {'seed':>4}  {columns}  {'mean lift':>9}  {'s':>5}")
    results = []
    for seed in args.seeds:
        dataset = named_ground_truth("label_budget", args.dataset, "full", None, seed)
        rng = np.random.default_rng([seed, 7])
        pool = dataset.training_set(max(args.labelled), rng)
        test = dataset.training_set(args.test_points, rng)
        pool_labels = torch.as_tensor(labels_of(dataset, pool.factors.numpy()))
        test_labels = labels_of(dataset, test.factors.numpy())
        majority = np.array([majority_rate(column) for column in test_labels.T])
        for count in args.labelled:
            start = time.perf_counter()
            network = train_label_classifier(pool.x[:count], pool_labels[:count], num_classes, args.steps,
                                             args.batch_size, args.lr, seed, weights)
            accuracy = label_accuracy(network, test.x, torch.as_tensor(test_labels), num_classes)
            lift = lift_over_majority(accuracy, majority)
            seconds = time.perf_counter() - start
            results.append(dict(labelled=count, seed=seed, seconds=round(seconds, 1),
                                **{f"accuracy_{n}": round(float(a), 4) for n, a in zip(names, accuracy)},
                                **{f"lift_{n}": round(float(v), 4) for n, v in zip(names, lift)}))
            cells = "  ".join(f"{a:.3f} ({v:+.2f})".rjust(16) for a, v in zip(accuracy, lift))
            print(f"{count:>8}  {seed:>4}  {cells}  {lift.mean():>9.3f}  {seconds:>5.0f}", flush=True)
    print(f"majority rates (seed {args.seeds[-1]}'s test images): "
          + ", ".join(f"{n} {m:.3f}" for n, m in zip(names, majority)))
    print("mean over seeds, accuracy (lift):")
    for count in args.labelled:
        rows = [r for r in results if r["labelled"] == count]
        cells = "  ".join(f"{np.mean([r[f'accuracy_{n}'] for r in rows]):.3f} "
                          f"({np.mean([r[f'lift_{n}'] for r in rows]):+.2f})".rjust(16) for n in names)
        print(f"{count:>8}  {'all':>4}  {cells}")
    print(json.dumps(dict(dataset=args.dataset, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                          label_weights=dict(zip(names, weights)), results=results)))


if __name__ == "__main__":
    main()
