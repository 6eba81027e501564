"""One code path: for every protocol, ``python examples/X.py`` and ``pyrodisent train`` write the same
config.json and metrics.json (timings and memory aside), and ``pyrodisent train --config RUN/config.json``
repeats a run exactly. Tiny budgets; the runs are in-process (the examples' ``main`` and the command's)."""
import json
from pathlib import Path

import numpy as np
import pytest

from pyrodisent.cli import main as pyrodisent
from pyrodisent.data.shapes3d import SHAPES3D_FILENAME, write_shapes3d_like
from pyrodisent.registry import PROTOCOLS

ROOT = Path(__file__).resolve().parents[2]
#: metrics that measure the machine, not the run
MACHINE_METRICS = {"train_seconds", "run_seconds", "eval_seconds", "data_seconds", "resistance_seconds", "peak_rss_gb"}
SHAPES3D_SIZES = (2, 2, 2, 2, 2, 3)
TINY_IMAGES = ["--train-size", "64", "--steps", "2", "--latent-dim", "3", "--metric-train", "100", "--metric-test",
               "50", "--diagnosis-points", "8", "--diagnosis-samples", "25", "--diagnosis-draws", "4"]
TINY_IMAGES_SET = ["--set", "train_size=64", "--set", "steps=2", "--set", "protocol.latent_dim=3", "--set",
                   "metric_train=100", "--set", "metric_test=50", "--set", "diagnosis_points=8", "--set",
                   "diagnosis_samples=25", "--set", "diagnosis_draws=4"]
TINY_GRAPH = ["--latent-dim", "4", "--hidden", "16", "--epochs", "1"]

# protocol: (example, example flags, the equivalent `pyrodisent train` flags)
CASES = {
    "nonstationary": ("ivae.py", ["--num-segments", "4", "--points-per-segment", "16", "--latent-dim", "2",
                                  "--hidden", "8", "--epochs", "2", "--batch-size", "16"],
                      ["--model", "ivae", "--set", "num_segments=4", "--set", "points_per_segment=16", "--set",
                       "protocol.latent_dim=2", "--set", "hidden=[8]", "--set", "epochs=2", "--set", "batch_size=16"]),
    "sparse_shift": ("svae_plus.py", ["--cells-per-action", "6", "--num-actions", "10", "--first-heldout-action", "8",
                                      "--epochs", "1", "--heldout-epochs", "1", "--iwae-samples", "30",
                                      "--khat-samples", "30", "--eval-cells", "20", "--refine-steps", "3"],
                     ["--model", "svae_plus", "--set", "cells_per_action=6", "--set", "protocol.num_actions=10", "--set",
                      "first_heldout_action=8", "--set", "epochs=1", "--set", "heldout_epochs=1", "--set",
                      "iwae_samples=30", "--set", "khat_samples=30", "--set", "eval_cells=20", "--set",
                      "refine_steps=3"]),
    "dsprites_procedural": ("disentanglement.py", ["--model", "beta_vae", "--grid", "small", *TINY_IMAGES],
                            ["--model", "beta_vae", "--set", "grid=small", *TINY_IMAGES_SET]),
    "dsprites": ("disentanglement.py", ["--model", "vae", "--dataset", "dsprites", "--data-path", "{dsprites}",
                                        *TINY_IMAGES],
                 ["--model", "vae", "--set", "data_path={dsprites}", *TINY_IMAGES_SET]),
    "shapes3d": ("disentanglement.py", ["--model", "vae", "--dataset", "shapes3d", "--data-path", "{shapes3d}",
                                        "--factor-sizes", *map(str, SHAPES3D_SIZES), *TINY_IMAGES],
                 ["--model", "vae", "--set", "data_path={shapes3d}", "--set",
                  f"factor_sizes={list(SHAPES3D_SIZES)}", *TINY_IMAGES_SET]),
    "tree_graph": ("cvae_corr.py", ["--graph", "tree", "--num-vertices", "60", "--num-features", "20",
                                    "--data-latent-dim", "4", *TINY_GRAPH],
                   ["--model", "cvae_corr", "--set", "num_vertices=60", "--set", "num_features=20", "--set",
                    "data_latent_dim=4", "--set", "protocol.latent_dim=4", "--set", "hidden=[16]", "--set",
                    "epochs=1"]),
    "general_graph": ("cvae_corr.py", ["--model", "cvae_ind", "--graph", "general", "--num-vertices", "60",
                                       "--num-features", "20", "--data-latent-dim", "4", *TINY_GRAPH],
                      ["--model", "cvae_ind", "--set", "num_vertices=60", "--set", "num_features=20", "--set",
                       "data_latent_dim=4", "--set", "protocol.latent_dim=4", "--set", "hidden=[16]", "--set",
                       "epochs=1"]),
    "sprite_graph": ("cvae_corr.py", ["--model", "vae", "--graph", "images", "--num-images", "40", *TINY_GRAPH],
                     ["--model", "vae", "--set", "num_images=40", "--set", "protocol.latent_dim=4", "--set",
                      "hidden=[16]", "--set", "epochs=1"]),
    "circular_sprites": ("topological_vae.py", ["--prior", "normal", "--grid", "small", "--topology-points", "60",
                                                *TINY_IMAGES],
                         ["--model", "beta_vae", "--set", "grid=small", "--set", "topology_points=60", *TINY_IMAGES_SET]),
    "weak_pairs": ("weak_pairs.py", ["--model", "ada_gvae", "--grid", "small", "--pair-eval", "40", *TINY_IMAGES],
                   ["--model", "ada_gvae", "--set", "grid=small", "--set", "pair_eval=40", *TINY_IMAGES_SET]),
    "concepts": ("concepts.py", ["--model", "ccvae", "--grid", "small", "--labelled-fraction", "0.5", "--probe-fit",
                                 "60", "--probe-test", "40", "--intervention-points", "20", *TINY_IMAGES, "--latent-dim", "5"],
                 ["--model", "ccvae", "--set", "grid=small", "--set", "labelled_fraction=0.5", "--set", "probe_fit=60",
                  "--set", "probe_test=40", "--set", "intervention_points=20",
                  *TINY_IMAGES_SET, "--set", "protocol.latent_dim=5"]),
    "sprite_sequences": ("gp_vae.py", ["--num-train", "8", "--num-test", "4", "--num-frames", "4", "--image-size",
                                       "16", "--width", "8", "--latent-dim", "2", "--epochs", "1", "--batch-size", "4",
                                       "--classifier-frames", "20"],
                         ["--model", "gp_vae", "--set", "num_train=8", "--set", "num_test=4", "--set", "num_frames=4",
                          "--set", "image_size=16", "--set", "width=8", "--set", "protocol.latent_dim=2", "--set",
                          "epochs=1", "--set", "batch_size=4", "--set", "classifier_frames=20"]),
}


def test_every_protocol_with_an_example_is_covered():
    assert set(CASES) == set(PROTOCOLS.names()) - {"user_data"}  # user_data: tests/protocols/test_user_data.py


@pytest.fixture
def data_files(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "data"))
    try:
        from test_dsprites import write_fake_dsprites
    finally:
        sys.path.pop(0)
    dsprites, _ = write_fake_dsprites(tmp_path / "dsprites.npz")
    shapes3d = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SHAPES3D_SIZES)
    return {"dsprites": str(dsprites), "shapes3d": str(shapes3d)}


def comparable(metrics):
    return {key: value for key, value in metrics.items() if key not in MACHINE_METRICS}


@pytest.mark.parametrize("protocol", list(CASES))
def test_example_and_command_give_the_same_run(protocol, tmp_path, data_files, load_example):
    script, example_flags, command_flags = CASES[protocol]
    fill = lambda flags: [flag.format(**data_files) for flag in flags]  # noqa: E731
    common = ["--seed", "1", "--device", "cpu", "--quiet"]
    by_example, by_command, repeated = tmp_path / "example", tmp_path / "command", tmp_path / "repeated"
    load_example(script).main([*fill(example_flags), *common, "--out", by_example])
    assert pyrodisent(["train", "--protocol", protocol, *fill(command_flags), *common, "--out", by_command]) == 0
    assert pyrodisent(["train", "--config", by_command / "config.json", "--device", "cpu", "--quiet", "--out",
                       repeated]) == 0
    configs = [json.loads((path / "config.json").read_text()) for path in (by_example, by_command, repeated)]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0]["protocol"] == protocol and configs[0]["seed"] == 1
    metrics = [json.loads((path / "metrics.json").read_text()) for path in (by_example, by_command, repeated)]
    assert comparable(metrics[0]) == comparable(metrics[1]) == comparable(metrics[2])
    assert len(comparable(metrics[0])) >= 4 and all(np.isfinite(v) for v in comparable(metrics[0]).values()
                                                    if isinstance(v, float))
