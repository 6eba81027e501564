"""Cost of one pyrodisent SVI step against a hand-written PyTorch step of the same networks and loss.

Both steps use the same modules, the same fused Adam and the same negative ELBO (analytic Gaussian KL,
one reparameterised sample, N/B scaling); the pyrodisent step is the trainer's own ``train_step``
(Pyro model and guide traced, ELBO assembled from the traces). Timings alternate between the two
in rounds and report the median, so machine noise hits both alike.

    python benchmarks/svi_overhead.py [--rounds 7] [--steps 200]
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time


import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import ArrayDataset
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer, build_adam


def ivae_case(device, hidden=(100, 100, 100)):
    """The iVAE of ``examples/ivae.py`` (three hidden layers of 100; ``hidden=(100, 100)`` is the official
    code's size), with a diagonal guide so that the hand-written loss stays short."""
    n, d, segments, batch_size = 40_000, 5, 40, 256
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen)
    u = torch.nn.functional.one_hot(torch.randint(0, segments, (n,), generator=gen), segments).float()
    data = ArrayDataset(x, u=u)
    nets = dict(hidden=hidden, activation_name="xtanh")
    model = MODELS.build("ivae", observation_shape=(d,), latent_dim=d, num_data=n, aux_dim=segments,
                         posterior_covariance="diagonal",
                         encoder_args=nets, decoder_args=nets, likelihood_args=dict(scale=0.1))

    def plain_loss(batch):
        loc, raw = model.encoder(torch.cat([batch.x, batch.u], -1)).chunk(2, -1)
        q = Normal(loc, torch.nn.functional.softplus(raw) + 1e-4)
        z = q.rsample()
        log_var = model.prior_net(batch.u)
        p = Normal(torch.zeros_like(log_var), (0.5 * log_var).exp())
        log_lik = Normal(model.decoder(z), 0.1).log_prob(batch.x).sum(-1)
        return -(log_lik - kl_divergence(q, p).sum(-1)).sum() * (n / batch.size)

    return f"iVAE MLP {len(hidden)}×100, batch 256", model, data, batch_size, plain_loss


def conv_case(device):
    n, batch_size = 2_048, 64
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 1, 64, 64, generator=gen) > 0.8).float()
    data = ArrayDataset(x)
    model = MODELS.build("vae", observation_shape=(1, 64, 64), latent_dim=10, num_data=n,
                         encoder="conv_encoder", decoder="conv_decoder", likelihood="bernoulli")

    def plain_loss(batch):
        loc, raw = model.encoder(batch.x).chunk(2, -1)
        q = Normal(loc, torch.nn.functional.softplus(raw) + 1e-4)
        z = q.rsample()
        p = Normal(torch.zeros_like(loc), torch.ones_like(loc))
        log_lik = Bernoulli(logits=model.decoder(z), validate_args=False).log_prob(batch.x).sum((-3, -2, -1))
        return -(log_lik - kl_divergence(q, p).sum(-1)).sum() * (n / batch.size)

    return "conv VAE 64×64, batch 64", model, data, batch_size, plain_loss


def time_steps(step, batches, steps):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def measure(case, device, rounds, steps):
    name, model, data, batch_size, plain_loss = case(device)
    trainer = Trainer(model, data, epochs=1, batch_size=batch_size, device=device, progress=False, seed=0)
    plain_optimizer = build_adam(model.parameters(), lr=1e-3, device=trainer.device)
    batches = [b for _, b in zip(range(20), trainer.loader)]

    def plain_step(batch):
        loss = plain_loss(batch)
        float(loss.detach())  # the trainer reads the loss too (NaN guard)
        plain_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        plain_optimizer.step()

    def pyro_step(batch):
        trainer.train_step(batch)

    pyro_step(batches[0])  # first step runs with validation; exclude it
    for _ in range(10):
        plain_step(batches[0])
        pyro_step(batches[0])
    plain_times, pyro_times = [], []
    for _ in range(rounds):
        plain_times.append(time_steps(plain_step, batches, steps))
        pyro_times.append(time_steps(pyro_step, batches, steps))
    plain, pyro_ = statistics.median(plain_times), statistics.median(pyro_times)
    return name, plain, pyro_


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--conv-steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the CI machine has 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'case':<28}{'plain ms':>10}{'pyrodisent ms':>15}{'ratio':>8}")
    official_size = functools.partial(ivae_case, hidden=(100, 100))
    for case, steps in ((ivae_case, args.steps), (official_size, args.steps), (conv_case, args.conv_steps)):
        name, plain, pyro_ = measure(case, args.device, args.rounds, steps)
        print(f"{name:<28}{plain * 1e3:>10.3f}{pyro_ * 1e3:>15.3f}{pyro_ / plain:>8.2f}")


if __name__ == "__main__":
    main()
