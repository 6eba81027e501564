"""The model/guide base class every model of the zoo derives from.

Generative story shared by the zoo (one data plate over the whole dataset, minibatch subsample)::

    globals ~ p(globals)                      # optional hook: model_globals / guide_globals
    for n in data:                            # pyro.plate("data", N, subsample=batch.index)
        z_n ~ p(z | u_n, globals)             # self.prior(batch, **globals), scaled by β·anneal
        x_n ~ p(x | decoder(z_n))             # self.likelihood

    guide: z_n ~ q(z | x_n[, u_n]) = self.posterior(batch)

A concrete model overrides :meth:`prior` — usually two or three lines of Pyro distributions — and,
when it has them, :meth:`model_globals` / :meth:`guide_globals` (global latent sites and their
variational families) or :meth:`posterior` (a richer guide). Everything else — β and KL warm-up
through ``poutine.scale`` on the latent site in both model and guide, devices, encoding for
evaluation, per-datapoint importance weights for IWAE bounds and PSIS k̂ — is inherited.

Learnable state is ``nn.Module`` state (networks, variational parameters of global sites, prior
parameters), so ``state_dict`` checkpoints it and ``.to(device)`` moves it — or Pyro's: a
``pyro.param`` or a Pyro AutoGuide (e.g. ``AutoNormal(self.model_globals)`` called in
:meth:`~LatentVariableModel.guide_globals`) created inside the model or guide. The trainer collects
those the way Pyro's SVI does, from a first trace of model and guide, and trains, checkpoints and
resumes them too.

Hooks a hypothesis may need without rewriting :meth:`~LatentVariableModel.model`: the KL weight
(``beta``, ``kl_warmup_steps``: :meth:`~LatentVariableModel.latent_scale`), a tempered likelihood
(``likelihood_weight``: :meth:`~LatentVariableModel.likelihood_scale`), a learning-rate factor for global
variational parameters (``global_lr_factor`` with :meth:`~LatentVariableModel.global_parameters`),
auxiliary networks with their own optimizer (:meth:`~LatentVariableModel.auxiliary_objectives`, e.g.
FactorVAE's discriminator), and samples of x from the posterior predictive
(:meth:`~LatentVariableModel.posterior_predictive`).
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pyro
import pyro.distributions as dist
import pyro.distributions.transforms as flow_transforms
import torch
from pyro import poutine
from torch import nn
from torch.nn.functional import softplus

import pyrodisent.distributions  # noqa: F401  (registers KL(full Gaussian ‖ factorised Gaussian))
from pyrodisent.training.auxiliary import AuxiliaryObjective
from pyrodisent.data.batch import Batch
from pyrodisent.infer.elbo import MeanFieldELBO
from pyrodisent.infer.traces import data_plate_frame
from pyrodisent.likelihoods import Likelihood, build_likelihood
from pyrodisent.nn import build_network
from pyrodisent.nn.mlp import _as_shape
from pyrodisent.sites import DATA_PLATE, LATENT_SITE, OBSERVATION_SITE

INPUT_TRANSFORMS = {"none": lambda x: x, "log1p": torch.log1p}


class LatentVariableModel(nn.Module):
    """Base class: amortised Gaussian guide, neural decoder, likelihood, prior N(0, I).

    :param observation_shape: shape of one observation, e.g. ``(5,)`` or ``(1, 64, 64)``.
    :param latent_dim: K, the number of latent dimensions.
    :param num_data: N, the size of the training set (the data plate's size).
    :param aux_dim: size of the auxiliary variable u (0 when there is none).
    :param encoder, decoder: network names (``mlp``, ``conv_encoder``/``conv_decoder``, ...) and
        ``encoder_args``/``decoder_args`` their keyword arguments.
    :param encode_aux: feed u to the encoder, q(z | x, u) (iVAE) rather than q(z | x).
    :param posterior_covariance: ``diagonal`` (mean field) or ``full``: a Gaussian guide with a full
        Cholesky factor, free of the mean-field bias towards latents whose decoder Jacobian has
        orthogonal columns (which makes plain-ELBO iVAEs settle on a rotation of the sources).
    :param posterior_flow_layers: F > 0 makes the guide a conditional normalising flow: the encoder's
        Gaussian pushed through F conditional affine autoregressive transforms (inverse autoregressive
        flow, Kingma et al. 2016), each conditioned on the encoder's input and followed by a fixed
        permutation of the latents, so q(z | x) can be skewed, curved and shifted beyond a Gaussian's
        reach. Its KL terms are Monte Carlo; codes for evaluation are the base mean pushed through the
        flow. Vector observations only.
    :param posterior_flow_hidden: hidden sizes of each transform's autoregressive network (default 4K).
    :param input_transform: ``none`` or ``log1p`` (counts: the encoder sees log(1 + x), as in scVI/sVAE+).
    :param likelihood: likelihood name and ``likelihood_args`` its keyword arguments.
    :param beta: weight of the KL term (β-VAE); 1 is the ELBO.
    :param kl_warmup_steps: the KL weight grows linearly from 0 to β over this many steps.
    :param global_kl_warmup: apply the same warm-up factor (without β) to the global sites of
        :meth:`model_globals` / :meth:`guide_globals`, so their prior (e.g. a sparsity prior on masks)
        does not decide them before the networks have learned anything; as the official sVAE+ code
        weighs its global KL.
    :param likelihood_weight: λ, the power of a tempered likelihood p(x | z)^λ in training (1: the ELBO).
        Evaluation (:func:`~pyrodisent.evaluation.scoring.evidence_lower_bound`, importance weights, IWAE, k̂)
        always reports the plain bound: λ = 1, β = 1, no warm-up.
    :param global_lr_factor: learning-rate multiplier for :meth:`global_parameters` and for parameters
        created with ``pyro.param`` — variational parameters of global sites, which get one gradient per
        step however large N is, while the networks get one per data point.
    """

    #: what each batch must carry beyond ``x`` (``"aux"``, ``"action"``, ``"graph"``, ``"sequence"``; see
    #: :mod:`pyrodisent.protocols.base`): a protocol whose batches lack one is refused before a run starts
    batch_needs: frozenset = frozenset()

    def __init__(
        self,
        observation_shape: Sequence[int] | int,
        latent_dim: int,
        num_data: int,
        aux_dim: int = 0,
        encoder: str = "mlp",
        decoder: str = "mlp",
        encoder_args: Optional[Dict[str, Any]] = None,
        decoder_args: Optional[Dict[str, Any]] = None,
        encode_aux: bool = False,
        posterior_covariance: str = "diagonal",
        posterior_flow_layers: int = 0,
        posterior_flow_hidden: Optional[Sequence[int]] = None,
        input_transform: str = "none",
        likelihood: str = "gaussian",
        likelihood_args: Optional[Dict[str, Any]] = None,
        beta: float = 1.0,
        kl_warmup_steps: int = 0,
        global_kl_warmup: bool = False,
        likelihood_weight: float = 1.0,
        global_lr_factor: float = 1.0,
    ):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be ≥ 1, got {latent_dim}")
        if num_data < 1:
            raise ValueError(f"num_data must be ≥ 1 (the training-set size), got {num_data}")
        if beta <= 0:
            raise ValueError(f"beta must be positive (it scales the KL term), got {beta}")
        if likelihood_weight <= 0:
            raise ValueError(f"likelihood_weight must be positive (the power of the likelihood), got {likelihood_weight}")
        if global_lr_factor <= 0:
            raise ValueError(f"global_lr_factor must be positive, got {global_lr_factor}")
        self.observation_shape: Tuple[int, ...] = _as_shape(observation_shape)
        self.latent_dim = int(latent_dim)
        self.num_data = int(num_data)
        self.aux_dim = int(aux_dim)
        self.encode_aux = bool(encode_aux)
        if self.encode_aux and self.aux_dim == 0:
            raise ValueError("encode_aux=True needs an auxiliary variable: set aux_dim > 0")
        if posterior_covariance not in ("diagonal", "full"):
            raise ValueError(f"posterior_covariance must be 'diagonal' or 'full', got {posterior_covariance!r}")
        self.posterior_covariance = posterior_covariance
        if input_transform not in INPUT_TRANSFORMS:
            raise ValueError(f"input_transform must be one of {sorted(INPUT_TRANSFORMS)}, got {input_transform!r}")
        self.input_transform = input_transform
        self.beta = float(beta)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.global_kl_warmup = bool(global_kl_warmup)
        self.likelihood_weight = float(likelihood_weight)
        self.global_lr_factor = float(global_lr_factor)
        self.register_buffer("training_step", torch.zeros((), dtype=torch.long))
        self._step = 0  # python copy of training_step: no device sync on the hot path
        self.encoder = self.build_encoder(encoder, encoder_args or {})
        self.decoder = self.build_decoder(decoder, decoder_args or {})
        self.likelihood: Likelihood = build_likelihood(likelihood, self.observation_shape, **(likelihood_args or {}))
        self.posterior_flow = self.build_posterior_flow(int(posterior_flow_layers), posterior_flow_hidden)

    # ------------------------------------------------------------------ building blocks
    def build_encoder(self, name: str, args: Dict[str, Any]) -> nn.Module:
        """The network of q(z | x[, u]); it outputs the location (K) and the raw scale: K numbers, or
        K(K+1)/2 for a full Cholesky factor.

        With ``encode_aux`` and a vector observation, u is concatenated to x; for images, u is
        concatenated to the image features by :class:`pyrodisent.nn.AuxiliaryConcat`.
        """
        k = self.latent_dim
        outputs = (k + (k * (k + 1) // 2 if self.posterior_covariance == "full" else k),)
        if not self.encode_aux:
            return build_network(name, self.observation_shape, outputs, **args)
        if len(self.observation_shape) == 1:
            return build_network(name, (self.observation_shape[0] + self.aux_dim,), outputs, **args)
        raise ValueError("encode_aux is supported for vector observations; for images encode u in a custom posterior()")

    def build_posterior_flow(self, layers: int, hidden: Optional[Sequence[int]]) -> nn.ModuleList:
        """The conditional affine autoregressive transforms of a flow guide (empty: a Gaussian guide)."""
        if layers < 0:
            raise ValueError(f"posterior_flow_layers must be ≥ 0, got {layers}")
        if layers == 0:
            return nn.ModuleList()
        if len(self.observation_shape) != 1:
            raise ValueError("posterior_flow_layers > 0 needs vector observations (the flow is conditioned on x); "
                             f"got observation shape {self.observation_shape}")
        if self.latent_dim < 2:
            raise ValueError("an autoregressive flow guide needs latent_dim ≥ 2")
        context = self.observation_shape[0] + (self.aux_dim if self.encode_aux else 0)
        hidden = list(hidden) if hidden is not None else [4 * self.latent_dim]
        return nn.ModuleList(
            flow_transforms.conditional_affine_autoregressive(self.latent_dim, context, hidden_dims=hidden)
            for _ in range(layers))

    def build_decoder(self, name: str, args: Dict[str, Any]) -> nn.Module:
        """The network of p(x | z): codes ``(B, K)`` → the likelihood's parameters ``(B, *observation_shape)``.

        Models whose latents are not one vector per observation (e.g. a path per latent channel over
        the frames of a sequence) override this.
        """
        return build_network(name, (self.latent_dim,), self.observation_shape, **args)

    def training_objective(self, num_particles: int = 1):
        """The loss the trainer minimises, ``(model, guide, batch) → (loss, terms)``.

        Default: the negative ELBO with analytic KL terms (β and warm-up enter through ``kl_scale``).
        Regularised models return e.g. :class:`~pyrodisent.infer.PenalizedELBO` with their penalty.
        Evaluation always uses the plain ELBO, whatever the training objective.
        """
        return MeanFieldELBO(num_particles)

    def after_step(self, batch: Batch, terms: Dict[str, torch.Tensor]) -> None:
        """Called by the trainer after each optimizer step (and after the auxiliary objectives' steps) with the
        step's batch and the detached parts of its loss (summed over the ranks when data-parallel)."""

    def auxiliary_objectives(self) -> Sequence[AuxiliaryObjective]:
        """Networks trained by a loss of their own with their own optimizer, one step after each SVI step
        (e.g. FactorVAE's discriminator). Their parameters are left out of the SVI optimizer; the
        trainer builds, steps, checkpoints and resumes their optimizers. Default: none."""
        return ()

    def global_parameters(self) -> List[torch.nn.Parameter]:
        """The variational parameters of the global sites (trained at ``lr × global_lr_factor``).

        Default: none; a model with global sites lists the parameters of :meth:`guide_globals`.
        Parameters created with ``pyro.param`` join this group by themselves (the trainer collects them).
        """
        return []

    def parameter_groups(self, lr: float) -> list:
        """Optimizer parameter groups: everything at ``lr``, :meth:`global_parameters` at
        ``lr × global_lr_factor``; parameters of :meth:`auxiliary_objectives` are left out."""
        auxiliary = {id(p) for objective in self.auxiliary_objectives() for p in objective.parameters}
        global_ = [p for p in self.global_parameters() if id(p) not in auxiliary]
        skip = auxiliary | {id(p) for p in global_}
        groups = [{"params": [p for p in self.parameters() if id(p) not in skip], "lr": lr}]
        if global_:
            groups.append({"params": global_, "lr": lr * self.global_lr_factor})
        return groups

    @property
    def device(self) -> torch.device:
        return self.training_step.device

    def set_training_step(self, step: int) -> None:
        """Called by the trainer before each step; drives annealing schedules (a Python int on the hot
        path; the ``training_step`` buffer is filled when the state is saved)."""
        self._step = int(step)

    def optional_state(self) -> Dict[str, torch.Tensor]:
        """State entries an older checkpoint may lack, with the values a fresh model has (loading fills them in);
        default: none."""
        return {}

    def state_dict(self, *args, **kwargs):
        self.training_step.fill_(self._step)
        return super().state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._step = int(self.training_step)
        return result

    @property
    def warmup_factor(self) -> float:
        """The linear warm-up factor min(1, step / kl_warmup_steps) (1 without warm-up)."""
        if self.kl_warmup_steps <= 0:
            return 1.0
        return min(1.0, (self._step + 1) / self.kl_warmup_steps)

    @property
    def kl_scale(self) -> float:
        """β times the linear warm-up factor min(1, step / kl_warmup_steps)."""
        return self.beta * self.warmup_factor

    # ------------------------------------------------------------------ the generative story
    @property
    def latent_event_shape(self) -> Tuple[int, ...]:
        """The event shape of one point's latent z: (K,); models whose z is not one vector per point
        (e.g. a path per latent channel) override this."""
        return (self.latent_dim,)

    def prior(self, batch: Batch, **globals: torch.Tensor) -> dist.Distribution:
        """p(z | u, globals) for the points of ``batch``: batch shape (B,), event shape (K,).

        Override this. Keyword arguments are the values returned by :meth:`model_globals`. A
        distribution over the K latents of each point must declare them as its event (``.to_event(1)``
        on an element-wise distribution); :meth:`model` checks both shapes.
        """
        loc = torch.zeros(batch.size, self.latent_dim, device=batch.device)
        return dist.Normal(loc, torch.ones_like(loc)).to_event(1)

    def model_globals(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Sample global latent sites (outside the data plate); return them by name for :meth:`prior`."""
        return {}

    def guide_globals(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """The variational family of the sites of :meth:`model_globals` (same names)."""
        return {}

    def posterior(self, batch: Batch) -> dist.Distribution:
        """q(z | x[, u]): a Gaussian from the encoder (diagonal or full covariance), event shape (K,), or
        that Gaussian pushed through the conditional flow (``posterior_flow_layers``)."""
        loc, scale = self.posterior_params(batch)
        if self.posterior_covariance == "full":
            base = dist.MultivariateNormal(loc, scale_tril=scale)
        else:
            base = dist.Normal(loc, scale).to_event(1)
        if not len(self.posterior_flow):
            return base
        return dist.TransformedDistribution(base, self.flow_transforms(batch))

    def flow_transforms(self, batch: Batch) -> list:
        """The flow's transforms conditioned on ``batch``, each followed by a fixed reversal of the latents."""
        context = self.encoder_input(batch)
        reverse = flow_transforms.Permute(torch.arange(self.latent_dim - 1, -1, -1, device=context.device))
        transforms = []
        for transform in self.posterior_flow:
            transforms += [transform.condition(context), reverse]
        return transforms

    def encoder_input(self, batch: Batch) -> torch.Tensor:
        """What the encoder reads: the transformed x, with u concatenated when ``encode_aux``."""
        x = INPUT_TRANSFORMS[self.input_transform](batch.x)
        return x if not self.encode_aux else torch.cat([x, batch.u], -1)

    def posterior_params(self, batch: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        """(location (B, K), scale): the scale is (B, K), or a Cholesky factor (B, K, K) when full (for a
        flow guide: of its Gaussian base)."""
        out = self.encoder(self.encoder_input(batch))
        k = self.latent_dim
        loc, raw = out[..., :k], out[..., k:]
        if self.posterior_covariance == "diagonal":
            return loc, softplus(raw) + 1e-4
        return loc, _cholesky_from_vector(raw, k)

    def observation_distribution(self, z: torch.Tensor, batch: Batch) -> dist.Distribution:
        """p(x | z): the likelihood of the decoder's output."""
        return self.likelihood(self.decoder(z), batch)

    def data_plate(self, batch: Batch):
        return pyro.plate(DATA_PLATE, self.num_data, subsample=batch.index, dim=-1)

    def latent_scale(self):
        """``poutine.scale`` by β·warm-up around the latent site (nothing to do when it is 1)."""
        scale = self.kl_scale
        return poutine.scale(scale=scale) if scale != 1.0 else contextlib.nullcontext()

    def global_scale(self):
        """``poutine.scale`` by the warm-up factor around the global sites when ``global_kl_warmup``."""
        scale = self.warmup_factor if self.global_kl_warmup else 1.0
        return poutine.scale(scale=scale) if scale != 1.0 else contextlib.nullcontext()

    def likelihood_scale(self):
        """``poutine.scale`` by λ (``likelihood_weight``) around the observation site: p(x | z)^λ."""
        weight = self.likelihood_weight
        return poutine.scale(scale=weight) if weight != 1.0 else contextlib.nullcontext()

    def check_prior_shape(self, prior: dist.Distribution, batch: Batch) -> None:
        """Raise a ``ValueError`` naming the latent site, both shapes and the fix when ``prior`` does not
        have batch shape (B,) and event shape :attr:`latent_event_shape`."""
        batch_shape, event_shape = tuple(prior.batch_shape), tuple(prior.event_shape)
        expected_event = tuple(self.latent_event_shape)
        if batch_shape == (batch.size,) and event_shape == expected_event:
            return
        full = batch_shape + event_shape
        if full == (batch.size,) + expected_event:
            moved = len(batch_shape) - 1
            fix = (f"declare the latent dimensions as the event: `.to_event({moved})` on the distribution"
                   if moved > 0 else "the latent dimensions must be event dimensions, the data axis the batch")
        else:
            fix = (f"build the distribution's parameters with shape (batch.size, {', '.join(map(str, expected_event))})"
                   " (e.g. `batch.x.new_zeros(batch.size, self.latent_dim)`) and call `.to_event(1)`")
        raise ValueError(
            f"prior(batch) for latent site {LATENT_SITE!r} of {type(self).__name__} has batch shape {batch_shape} "
            f"and event shape {event_shape}; expected batch shape ({batch.size},) (one entry per point of the "
            f"minibatch) and event shape {expected_event}: {fix}"
        )

    def model(self, batch: Batch) -> torch.Tensor:
        with self.global_scale():
            globals_ = self.model_globals(batch)
        prior = self.prior(batch, **globals_)
        self.check_prior_shape(prior, batch)
        with self.data_plate(batch):
            with self.latent_scale():
                z = pyro.sample(LATENT_SITE, prior)
            with self.likelihood_scale():
                pyro.sample(OBSERVATION_SITE, self.observation_distribution(z, batch), obs=batch.x)
        return z

    def guide(self, batch: Batch) -> torch.Tensor:
        with self.global_scale():
            self.guide_globals(batch)
        with self.data_plate(batch):
            with self.latent_scale():
                return pyro.sample(LATENT_SITE, self.posterior(batch))

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def encode(self, batch: Batch, sample: bool = False) -> torch.Tensor:
        """Codes for evaluation: the posterior mean (or one sample from q) of z, shape (B, K); for a flow
        guide, the base Gaussian's mean pushed through the flow."""
        q = self.posterior(batch)
        if sample:
            return q.sample()
        if isinstance(q, dist.TransformedDistribution):
            z = q.base_dist.mean
            for transform in q.transforms:
                z = transform(z)
            return z
        return q.mean

    @torch.no_grad()
    def reconstruct(self, batch: Batch) -> torch.Tensor:
        """Expected observation under p(x | z = E_q[z])."""
        return self.likelihood.mean(self.decoder(self.encode(batch)), batch)

    @torch.no_grad()
    def posterior_predictive(self, batch: Batch, num_samples: int = 1) -> torch.Tensor:
        """Draws of x from the posterior predictive, shape (S, B, *observation_shape).

        Each draw runs the guide (global and local sites) and then the model with its observation
        site unconditioned, so x is sampled from p(x | z) rather than set to ``batch.x`` — the same as
        ``pyro.infer.Predictive(poutine.uncondition(model.model), guide=model.guide)``.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be ≥ 1, got {num_samples}")
        unconditioned = poutine.uncondition(self.model)
        draws = []
        with poutine.block():
            for _ in range(num_samples):
                guide_trace = poutine.trace(self.guide).get_trace(batch)
                model_trace = poutine.trace(poutine.replay(unconditioned, trace=guide_trace)).get_trace(batch)
                draws.append(model_trace.nodes[OBSERVATION_SITE]["value"])
        return torch.stack(draws)

    def global_site_dims(self) -> Dict[str, list]:
        """Names of the dimensions of each global site (for ArviZ), e.g. ``{"shift": ["action", "latent"]}``."""
        return {}

    def global_medians(self) -> Dict[str, torch.Tensor]:
        """Point values of the global sites (posterior medians, hard masks) used to fix them when scoring
        data point by point; empty when the model has no global sites or prefers a guide draw."""
        return {}

    def fixed_globals_trace(self, batch: Batch) -> poutine.Trace:
        """A trace of :meth:`guide_globals` at :meth:`global_medians` (sites without a median: one guide draw).

        Pass it to :meth:`log_importance_weights` so every data point is scored under the same globals.
        """
        with poutine.block():
            trace = poutine.trace(self.guide_globals).get_trace(batch)
        for name, value in self.global_medians().items():
            if name not in trace.nodes:
                raise KeyError(f"global_medians() names {name!r}, which guide_globals() does not sample")
            trace.nodes[name]["value"] = value
        return trace

    @torch.no_grad()
    def log_importance_weights(self, batch: Batch, num_samples: int,
                               globals_trace: Optional[poutine.Trace] = None) -> torch.Tensor:
        """log w_s(n) = log p(x_n, z_s) − log q(z_s | x_n) for S samples per point, shape (S, B).

        Local sites only: global sites are fixed to ``globals_trace`` (one draw from their guide
        when omitted), so log-mean-exp over S estimates log p(x_n | globals) (the IWAE bound), and the
        weights are what PSIS k̂ diagnoses. Each sample replicates the batch, so any network works.

        The guide draws all S samples in one pass (so the draws do not depend on the grouping below);
        the model scores them in groups of about :data:`MODEL_ROWS_PER_PASS` rows (sites inside the data
        plate sliced accordingly), which bounds the memory its temporaries take.
        """
        if globals_trace is None:
            globals_trace = self.fixed_globals_trace(batch)
        repeated = batch.repeat(num_samples)
        fixed_guide = poutine.replay(self.guide, trace=globals_trace)
        fixed_model = poutine.replay(self.model, trace=globals_trace)
        samples_per_pass = max(1, MODEL_ROWS_PER_PASS // batch.size)
        log_p = []
        with poutine.block(), plain_elbo_weights(self):
            guide_trace = poutine.trace(fixed_guide).get_trace(repeated)
            for start in range(0, num_samples, samples_per_pass):
                count = min(samples_per_pass, num_samples - start)
                rows = batch.repeat(count) if count < num_samples else repeated
                guide_rows = _local_rows(guide_trace, start * batch.size, count * batch.size)
                model_trace = poutine.trace(poutine.replay(fixed_model, trace=guide_rows)).get_trace(rows)
                log_p.append(_local_log_prob(model_trace))
        log_w = torch.cat(log_p) - _local_log_prob(guide_trace)
        return log_w.reshape(num_samples, batch.size)


def _cholesky_from_vector(raw: torch.Tensor, k: int) -> torch.Tensor:
    """(…, K(K+1)/2) unconstrained numbers → lower-triangular (…, K, K) with a positive diagonal."""
    rows, cols = torch.tril_indices(k, k, device=raw.device)
    tril = raw.new_zeros(*raw.shape[:-1], k, k)
    tril[..., rows, cols] = raw
    diagonal = softplus(torch.diagonal(tril, dim1=-2, dim2=-1)) + 1e-4
    return torch.tril(tril, -1) + torch.diag_embed(diagonal)


#: rows of the repeated batch that :meth:`LatentVariableModel.log_importance_weights` passes through the model at
#: once: the decoder's and likelihood's temporaries of that many rows stay in cache and are not returned to
#: the operating system between passes.
MODEL_ROWS_PER_PASS = 2 ** 13


class plain_elbo_weights:
    """Temporarily evaluate the plain, untempered ELBO terms (β = 1, no warm-up, λ = 1): what every
    evaluation reports, whatever the training weights."""

    _fields = ("beta", "kl_warmup_steps", "likelihood_weight")

    def __init__(self, model: LatentVariableModel):
        self.model = model

    def __enter__(self):
        self.saved = {name: getattr(self.model, name) for name in self._fields if hasattr(self.model, name)}
        plain = {"beta": 1.0, "kl_warmup_steps": 0, "likelihood_weight": 1.0}
        for name in self.saved:
            setattr(self.model, name, plain[name])

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            setattr(self.model, name, value)


def _local_rows(trace: poutine.Trace, start: int, length: int) -> poutine.Trace:
    """A copy of ``trace`` whose sample sites inside the data plate, and the plate's subsample indices, hold
    rows ``start:start + length`` of their values (along the plate's dimension); ``trace`` is left as it is."""
    part = trace.copy()
    for name, site in trace.nodes.items():
        if site["type"] != "sample":
            continue
        value = site["value"]
        if name == DATA_PLATE:
            axis = 0
        else:
            frame = data_plate_frame(site)
            if frame is None:
                continue
            axis = value.dim() - len(site["fn"].event_shape) + frame.dim
        part.nodes[name] = {**site, "value": value.narrow(axis, start, length)}
    return part


def _local_log_prob(trace: poutine.Trace) -> torch.Tensor:
    """Σ over sample sites inside the data plate of log p, per data point (unscaled), shape (B,)."""
    total = 0.0
    for site in trace.nodes.values():
        if site["type"] != "sample" or site["name"] == DATA_PLATE:
            continue
        if data_plate_frame(site) is None:
            continue
        log_p = site["fn"].log_prob(site["value"])
        if site["mask"] is not None:
            log_p = log_p * site["mask"]
        total = total + log_p
    return total


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])
