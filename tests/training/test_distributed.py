"""Data-parallel training: 2 gloo processes on the CPU take exactly the single-process steps on the same
global batches — the data plate scaled for the global batch, global terms counted once — and
``pyrodisent train --nproc 2`` writes one run directory (rank 0) that ``--resume`` continues."""
import json

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyrodisent.data import ArrayDataset
from pyrodisent.training.distributed import DistributedContext, launch
from pyrodisent.training.trainer import Trainer

NUM_DATA, BATCH, EPOCHS = 24, 7, 2  # batches of 7, 7, 7, 3: unequal shares (4 + 3, 2 + 1) on two ranks


class Regression(torch.nn.Module):
    """x_n ~ N(net(u_n) + w + b, I) in a data plate of N; a global latent w ~ N(0, I) with a point-mass guide
    and a global Pyro parameter b: deterministic, so two ways of computing one step must agree exactly."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(3, 2)
        self.num_data = NUM_DATA

    def set_training_step(self, step):
        pass

    def model(self, batch):
        w = pyro.sample("w", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        offset = pyro.param("offset", torch.zeros(2))
        with pyro.plate("data", self.num_data, subsample=batch.index, dim=-1):
            pyro.sample("x", dist.Normal(self.net(batch.u) + w + offset, 1.0).to_event(1), obs=batch.x)

    def guide(self, batch):
        pyro.sample("w", dist.Delta(pyro.param("w_loc", torch.full((2,), 0.5))).to_event(1))


def data():
    generator = torch.Generator().manual_seed(1)
    u = torch.randn(NUM_DATA, 3, generator=generator)
    return ArrayDataset(u @ torch.randn(3, 2, generator=generator) + 1.0, u=u)


def train(distributed=None):
    pyro.clear_param_store()
    torch.manual_seed(0)
    trainer = Trainer(Regression(), data(), epochs=EPOCHS, batch_size=BATCH, lr=0.05, objective="trace",
                      progress=False, device="cpu", distributed=distributed)
    trainer.fit()
    state = {name: value.detach().clone() for name, value in trainer.model.state_dict().items()}
    state.update({name: value.detach().clone() for name, value in trainer.pyro_parameters.items()})
    return state, [row["loss"] for row in trainer.history], trainer


def rank_main(out):
    from pyrodisent.training.distributed import finish, initialise

    torch.set_num_threads(1)
    context = initialise("cpu")
    try:
        state, losses, trainer = train(context)
        # the data plate on this rank: N / (its share of the global batch), as Pyro scales a subsample
        batch = next(iter(trainer.loader))
        local = trainer.data.batch(context.shard(batch.index))
        trace = poutine.trace(trainer.model.model).get_trace(local)
        scale = float(trace.nodes["x"]["scale"])
        gathered = [None, None]
        torch.distributed.all_gather_object(gathered, (len(local.index), scale))
        if context.is_main:
            torch.save({"state": state, "losses": losses, "shares": gathered, "steps": trainer.step}, out)
    finally:
        finish()


def test_two_gloo_processes_take_the_single_process_steps(tmp_path):
    out = tmp_path / "ranks.pt"
    launch(2, rank_main, (str(out),))
    ranks = torch.load(out, weights_only=False)
    single, losses, trainer = train()
    assert ranks["steps"] == trainer.step == EPOCHS * 4
    assert ranks["shares"] == [(4, NUM_DATA / 4), (3, NUM_DATA / 3)]  # each rank's plate: N / its share
    # the combined loss is the single-process loss of the global batch (per-point terms × N/B, global once)
    assert ranks["losses"] == pytest.approx(losses, rel=1e-6)
    assert set(ranks["state"]) == set(single) == {"net.weight", "net.bias", "offset", "w_loc"}
    for name, value in single.items():
        torch.testing.assert_close(ranks["state"][name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.allclose(single["net.weight"], Regression().net.weight)  # it did train


def rank_leaves_after_rank_0(out, work_s):
    import time

    from pyrodisent.training.distributed import finish, initialise

    context = initialise("cpu", timeout_s=3.0)
    if context.is_main:
        time.sleep(work_s)  # rank 0 evaluating: longer than the collectives' timeout
    finish()
    with open(f"{out}.{context.rank}", "w") as handle:
        handle.write(str(time.monotonic()))


def test_ranks_leave_the_process_group_together_however_long_rank_0_works(tmp_path):
    """finish() holds rank 1 until rank 0 is done, beyond the process group's own timeout (3 s here), so no rank
    tears its connections down while another still holds them."""
    out = tmp_path / "left"
    launch(2, rank_leaves_after_rank_0, (str(out), 6.0))
    left = [float((tmp_path / f"left.{rank}").read_text()) for rank in range(2)]
    assert abs(left[1] - left[0]) < 2.0  # rank 1 left with rank 0, not 6 s before it


def test_shares_cover_the_global_batch_and_small_batches_are_refused():
    contexts = [DistributedContext(rank, 3, rank, torch.device("cpu")) for rank in range(3)]
    index = torch.arange(10)
    assert torch.equal(torch.cat([c.shard(index) for c in contexts]), index)
    assert [len(c.shard(index)) for c in contexts] == [4, 3, 3]
    with pytest.raises(ValueError, match=r"leave a last batch of 1; choose trainer.batch_size"):
        contexts[0].check_batches(num_data=9, batch_size=4)
    contexts[0].check_batches(num_data=12, batch_size=4)


def test_train_nproc_writes_one_run_directory_and_resumes(tmp_path, capsys):
    from pyrodisent.cli import main

    out = tmp_path / "ddp"
    argv = ["train", "--model", "beta_vae", "--protocol", "nonstationary", "--nproc", "2", "--quiet", "--device",
            "cpu", "--set", "num_segments=3", "--set", "points_per_segment=10", "--set", "protocol.latent_dim=2",
            "--set", "hidden=[8]", "--set", "diagnosis_points=0", "--set", "epochs=2", "--set", "batch_size=8",
            "--out", str(out)]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and (out / "checkpoint.pt").exists()
    log = (out / "training_log.csv").read_text().splitlines()
    assert len(log) == 3  # a header and one row per epoch: rank 0 alone wrote it
    (out / "metrics.json").unlink()
    assert main(argv + ["--resume"]) == 0  # every rank loads the checkpoint at epoch 2: evaluation only
    assert json.loads((out / "metrics.json").read_text())["mcc"] == pytest.approx(metrics["mcc"])
