import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pyro
import pytest
import torch

from pyrodisent.data.arrays import ArrayDataset

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(2)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def load_example():
    """``load_example("ivae.py")``: the example script as a module, to call its ``main(argv)`` in-process."""
    def load(script):
        spec = importlib.util.spec_from_file_location(f"example_{Path(script).stem}", EXAMPLES / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(autouse=True)
def _fresh_pyro_state():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    yield
    pyro.clear_param_store()


# A run directory held by another process. The holder is a fresh interpreter, not a fork: forking a
# process whose torch/OpenMP threads hold locks can deadlock the child (it did, on CI).
_HOLDER = """
import json, pathlib, sys
from pyrodisent.training.run_directory import RunDirectory
path = pathlib.Path(sys.argv[1])
RunDirectory(path).create(json.loads(sys.argv[2]), resume=(path / "config.json").exists())
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def hold_run_directory():
    """``hold_run_directory(path, config)`` starts a process that holds ``path`` and returns it once it does."""
    holders = []

    def start(path, config):
        holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), json.dumps(config)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        line = holder.stdout.readline()
        assert line.strip() == "ready", f"the holder did not take the run directory (exit {holder.poll()})"
        return holder

    yield start
    for holder in holders:
        if holder.poll() is None:
            holder.kill()
        holder.wait(30)


# Data shared by the concept models' tests (tests/models/test_ccvae.py, test_clap.py, tests/test_concept_model.py):
# two labels, binary and of three classes.


@pytest.fixture
def half_labelled_toy():
    """200 points x = (y₁, y₂, two noise features) whose labels y are read off x; every other point labelled."""
    generator = torch.Generator().manual_seed(1)
    n = 200
    labels = torch.stack([torch.randint(0, 2, (n,), generator=generator),
                          torch.randint(0, 3, (n,), generator=generator)], 1)
    x = torch.cat([labels.float(), torch.randn(n, 2, generator=generator) * 0.1], 1)
    return ArrayDataset(x, extras=dict(labels=labels, labelled=torch.arange(n) % 2 == 0)), labels


@pytest.fixture
def core_label_accuracy():
    """A function: the accuracy per label (L,) of a concept model's classifier on its encoded points."""
    def accuracy(model, data, labels) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            predicted = model.predict_labels(model.encode(data.batch(torch.arange(len(data)))))
        return (predicted == labels).float().mean(0)
    return accuracy
