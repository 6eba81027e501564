"""Data-parallel training with ``torch.distributed``: N processes, one global batch split between them.

Every rank holds the whole model and the whole training set, shuffles it with the same generator (so
all ranks see the same global minibatch) and trains on its own contiguous share of it
(:meth:`DistributedContext.shard`, what ``DistributedSampler`` does per epoch, done per global batch).
After ``backward`` the gradients of every optimised parameter — the networks' and the global Pyro
parameters' alike — are combined with one ``all_reduce`` (:meth:`DistributedContext.combine_gradients`)
before clipping and the optimizer step, so every rank takes the same step and the parameters stay
equal without ever being sent. This is DDP's gradient all-reduce done by hand rather than by the
``DistributedDataParallel`` module wrapper: a model's Pyro parameters live in the param store, not in
one ``nn.Module`` whose ``forward`` DDP could hook, and the auxiliary objectives' networks (a
FactorVAE discriminator) are stepped by their own optimizers.

**Plate scaling.** The data plate is ``pyro.plate("data", N, subsample=shard)``, so Pyro scales each
rank's per-point terms by N / B_r (B_r its share of the global batch B). The ranks' gradients are
combined with weights B_r / B::

    Σ_r (B_r/B) · [(N/B_r) Σ_{n ∈ shard r} g_n + g_global] = (N/B) Σ_{n ∈ batch} g_n + g_global

— exactly the single-process gradient of the global batch: the per-point terms are scaled by
N / B (the global batch) and the terms outside the plate (global latents, their KL, the priors of global
parameters) counted once. With equal shares the weights are 1/W: the all-reduce is an average. The
loss is combined the same way, so the log and the NaN guard see the single-process loss.

Seeding: every rank builds the model from the run's seed (and rank 0's initial weights are broadcast,
so a model whose construction is not seeded still starts equal); the loader's shuffling generator is the
run's seed on every rank; the Monte Carlo noise of rank r is seeded from (seed, epoch, r) at the start
of each epoch, so ranks draw independent noise and a resumed run continues exactly. Rank 0 writes the
run directory, the log and the checkpoints; every rank reads the checkpoint on ``--resume``.

Processes come from ``torchrun`` (its ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) or from :func:`launch` (``pyrodisent train --nproc N``), which sets the same variables.
The backend follows the device of the model: NCCL on CUDA (rank r on ``cuda:LOCAL_RANK``), gloo on CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist

#: the environment variables torchrun sets and :func:`launch` sets the same way
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class DistributedContext:
    """This process's place in a data-parallel run: ``rank`` of ``world_size``, on ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the run directory, the log and the checkpoints."""
        return self.rank == 0

    # ------------------------------------------------------------------ batches
    def shard_bounds(self, size: int) -> Tuple[int, int]:
        """Rows ``[start, stop)`` of a global batch of ``size`` points that this rank trains on: contiguous
        shares whose sizes differ by at most one (the first ``size % world_size`` ranks take one more)."""
        base, extra = divmod(size, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's share of a global batch's dataset indices."""
        start, stop = self.shard_bounds(len(index))
        return index[start:stop]

    def check_batches(self, num_data: int, batch_size: int) -> None:
        """Every global batch of an epoch must give each rank at least one point."""
        batch_size = min(batch_size, num_data)
        last = num_data % batch_size or batch_size
        if min(batch_size, last) < self.world_size:
            raise ValueError(
                f"data-parallel training over {self.world_size} processes needs at least {self.world_size} points in "
                f"every minibatch, but {num_data} points in batches of {batch_size} leave a last batch of {last}; "
                f"choose trainer.batch_size so that it and {num_data} mod batch_size are 0 or ≥ {self.world_size}")

    # ------------------------------------------------------------------ collective operations
    def combine(self, value: torch.Tensor, weight: float) -> torch.Tensor:
        """Σ over ranks of ``weight · value`` (a copy; ``value`` is left as it is)."""
        combined = value.detach().to(self.device, torch.float64 if value.is_floating_point() else value.dtype) * weight
        dist.all_reduce(combined)
        return combined

    def combine_gradients(self, parameters: Sequence[torch.Tensor], weight: float) -> None:
        """Replace each parameter's gradient by Σ_r weight_r · grad_r, in one flat all-reduce. A parameter
        without a gradient on every rank keeps none (Adam then skips it, as it would in one process); one
        without a gradient on some ranks only counts as zero there."""
        parameters = list(parameters)
        if not parameters:
            return
        has = torch.tensor([p.grad is not None for p in parameters], dtype=torch.int32, device=self.device)
        dist.all_reduce(has)
        used = [p for p, count in zip(parameters, has.tolist()) if count > 0]
        if not used:
            return
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in used])
        flat = flat.to(self.device) * weight
        dist.all_reduce(flat)
        offset = 0
        for p in used:
            size = p.numel()
            p.grad = flat[offset:offset + size].view_as(p).to(p.device, p.dtype).clone()
            offset += size

    def broadcast_parameters(self, tensors: Sequence[torch.Tensor]) -> None:
        """Rank 0's values of ``tensors`` (parameters and buffers) on every rank."""
        with torch.no_grad():
            for tensor in tensors:
                if tensor.is_floating_point() or tensor.dtype in (torch.int64, torch.int32):
                    dist.broadcast(tensor.data, src=0)

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object)."""
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def noise_seed(self, seed: int, epoch: int) -> int:
        """The seed of this rank's Monte Carlo noise in ``epoch`` of a run seeded ``seed``."""
        return int(np.random.SeedSequence([seed, 7919, epoch, self.rank]).generate_state(1)[0])

    def barrier(self) -> None:
        dist.barrier()


def environment_is_distributed(environ: Optional[Dict[str, str]] = None) -> bool:
    """True when torchrun (or :func:`launch`) started this process as one of several."""
    environ = os.environ if environ is None else environ
    return "RANK" in environ and int(environ.get("WORLD_SIZE", "1")) > 1


#: how long a rank that is done waits at :func:`finish` for the others (rank 0 evaluates and writes after training)
FINISH_TIMEOUT_S = 24 * 3600.0
#: a gloo group whose barrier waits :data:`FINISH_TIMEOUT_S`, not the collectives' timeout (made by :func:`initialise`)
_leaving_group = None


def initialise(device: str | torch.device = "auto", timeout_s: float = 600.0) -> DistributedContext:
    """Join the process group described by the environment (torchrun's variables): NCCL when the device is
    CUDA (this rank's GPU is ``cuda:LOCAL_RANK``), gloo otherwise."""
    import datetime

    from pyrodisent.training.devices import resolve_device

    missing = [name for name in ENVIRONMENT if name not in os.environ]
    if missing:
        raise ValueError(f"distributed training needs the environment variables {', '.join(ENVIRONMENT)} (torchrun "
                         f"sets them); missing: {', '.join(missing)}")
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    chosen = resolve_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(chosen)
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    global _leaving_group
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
        _leaving_group = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=FINISH_TIMEOUT_S))
    # the collectives run where the backend wants their tensors: gloo on the CPU, NCCL on the GPU
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen)


def finish() -> None:
    """Leave the process group, every rank together: a gloo rank that tears its connections down while another
    still holds them can abort (a run's rank 1 finished training and left while rank 0 evaluated: ``terminate called
    without an active exception``, SIGABRT, once in about ten test-suite runs). The ranks meet at a barrier of
    their own group, which waits as long as rank 0's evaluation takes."""
    global _leaving_group
    if dist.is_available() and dist.is_initialized():
        if _leaving_group is not None:
            dist.barrier(group=_leaving_group)
            _leaving_group = None
        dist.destroy_process_group()


def _spawned(local_rank: int, world_size: int, port: int, function: Callable, arguments: tuple) -> None:
    os.environ.update({"RANK": str(local_rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(local_rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "TORCHELASTIC_USE_AGENT_STORE": "True"})
    function(*arguments)


def launch(nproc: int, function: Callable, arguments: tuple = ()) -> None:
    """Run ``function(*arguments)`` in ``nproc`` new processes on this machine with torchrun's environment
    variables set (``torch.multiprocessing.spawn``); an exception in one of them is raised here.

    As torchrun's agent does, this process hosts the rendezvous store (``TCPStore`` on a port the system picks
    while binding it, so no other process can take the port between choosing and listening) and the ranks join it
    as clients (``TORCHELASTIC_USE_AGENT_STORE``)."""
    import datetime

    import torch.multiprocessing as multiprocessing

    if nproc < 1:
        raise ValueError(f"--nproc must be ≥ 1, got {nproc}")
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=600))  # serves the ranks until launch returns
    multiprocessing.spawn(_spawned, args=(nproc, store.port, function, arguments), nprocs=nproc, join=True)
