"""kill -9 at many points of a run, then --resume: the run ends as if it had never been interrupted.

An uninterrupted reference run and, for each kill point, a run killed there (SIGKILL, from inside
the process, at the k-th passage through the point) and continued with ``--resume`` (or started
again when the kill came before config.json existed — what a user would do). Compared with the
reference: config.json byte for byte, metrics.json and training_log.csv value for value except the
wall-clock entries (``train_seconds``; the log's ``seconds`` column), which measure time and differ
by nature; the checkpoint's weights, epoch and step exactly; and the same files, so no temporary
file and no lock file is left behind.
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--num-segments", "4", "--points-per-segment", "16", "--latent-dim", "2", "--hidden", "8", "8",
        "--epochs", "6", "--batch-size", "16", "--device", "cpu", "--quiet"]  # 4 steps an epoch, 24 in all
STEPS = 24
TIMING_METRICS = {"train_seconds", "run_seconds", "peak_rss_gb"}
TIMING_COLUMNS = {"seconds"}

random_steps = sorted(np.random.default_rng(12).choice(np.arange(2, STEPS + 1), 6, replace=False).tolist())
KILL_POINTS = (
    [("locked", 1), ("rename:config.json", 1), ("step", 1)]
    + [("step", int(k)) for k in random_steps]  # kills at seeded random steps
    + [("verify", 1), ("verify", 4), ("rename:checkpoint.pt", 1), ("rename:checkpoint.pt", 3),
       ("rename:checkpoint.pt", 6), ("before-log-row", 1), ("before-log-row", 4), ("before-log-row", 6),
       ("after-log-row", 2), ("after-log-row", 6), ("evaluation", 1), ("evaluation", 2),
       ("rename:metrics.json", 1), ("pictures", 1)]
)


class ForkServer:
    def __init__(self, script):
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fault_injection.py"), str(script)],
                                        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert json.loads(self.process.stdout.readline()) == {"ready": True}

    def run(self, argv, log, kill=None):
        self.process.stdin.write(json.dumps({"argv": [str(a) for a in argv], "kill": kill, "log": str(log)}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture(scope="module")
def server():
    server = ForkServer(ROOT / "examples" / "ivae.py")
    yield server
    server.close()


def without(row, keys):
    return {k: v for k, v in row.items() if k not in keys}


def read_log(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [without(row, TIMING_COLUMNS) for row in rows], list(rows[0])


def snapshot(out):
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    return {
        "files": sorted(p.relative_to(out).as_posix() for p in out.rglob("*")),
        "config": (out / "config.json").read_bytes(),
        "metrics": without(json.loads((out / "metrics.json").read_text()), TIMING_METRICS),
        "log": read_log(out / "training_log.csv"),
        "epoch_step": (state["epoch"], state["step"]),
        "weights": state["model"],
    }


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    assert server.run([*ARGS, "--out", out], out.parent / "log.txt") == {"killed": False, "code": 0}
    return snapshot(out)


def test_enough_kill_points():
    assert len(set(KILL_POINTS)) == len(KILL_POINTS) >= 20


@pytest.mark.parametrize("point, k", KILL_POINTS, ids=[f"{p}-{k}" for p, k in KILL_POINTS])
def test_kill_then_resume_equals_the_uninterrupted_run(server, reference, tmp_path, point, k):
    out, log = tmp_path / "run", tmp_path / "log.txt"
    first = server.run([*ARGS, "--out", out], log, kill=[point, k])
    assert first == {"killed": True, "code": None}, f"the run was not killed at {point} #{k}: {log.read_text()}"
    again = [*ARGS, "--out", out] + (["--resume"] if (out / "config.json").exists() else [])
    second = server.run(again, log)
    assert second == {"killed": False, "code": 0}, log.read_text()
    got = snapshot(out)
    assert got["files"] == reference["files"]  # no stray temporary file, no lock left
    assert got["config"] == reference["config"]
    assert got["metrics"] == reference["metrics"]
    assert got["log"] == reference["log"]
    assert got["epoch_step"] == reference["epoch_step"] == (6, STEPS)
    for name, value in reference["weights"].items():
        assert torch.equal(got["weights"][name], value), name
