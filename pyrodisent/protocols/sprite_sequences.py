"""Sprite sequences with pixels missing not at random — the Healing-MNIST protocol (Fortuin et al. 2020,
GP-VAE §4.1) on procedural sprites (:class:`pyrodisent.data.SpriteSequences`).

T frames per sequence, orientation and position random walks, foreground pixels missing more often than
background ones. A model that needs sequences (a GP-VAE) trains on whole sequences; any other model on
the frames, with the same number of frames per step. Scored on held-out sequences: NLL and MSE of the
missing pixels, AUROC of a logistic regression for the sprite's shape trained on imputed training frames
and tested on imputed held-out frames, MCC between per-frame posterior means and the continuous factors
(scale, orientation, posX, posY); mean and forward fill scored beside the model (``mean_fill_*``,
``forward_fill_*``). Picture: original / observed / imputed sequences.
"""
from __future__ import annotations

import sys
from typing import Any, Dict

import numpy as np

from pyrodisent.data import SpriteSequences, as_generator
from pyrodisent.data.sprite_sequences import CONTINUOUS_FACTORS, SequenceSet, flatten_frames
from pyrodisent.evaluation.imputation import forward_fill, impute, mean_fill, observed_means
from pyrodisent.evaluation.scoring import encode
from pyrodisent.figures.images import plot_imputed_sequences
from pyrodisent.metrics import downstream_auroc, mcc, missing_entry_scores
from pyrodisent.protocols.base import SEQUENCE, Protocol, ProtocolData, RunContext, batch_needs
from pyrodisent.protocols.settings import Setting
from pyrodisent.registry import MODELS, PROTOCOLS
from pyrodisent.runs.flags import nonnegative_int, number, positive_float, positive_int, probability_below_one, seed


@PROTOCOLS.register("sprite_sequences")
class SpriteSequenceImputation(Protocol):
    """Sprite sequences with pixels missing not at random (GP-VAE, Fortuin et al. 2020): impute and recover factors."""

    name = "sprite_sequences"
    provides = frozenset({SEQUENCE})
    default_model = "gp_vae"
    # Sized for one CPU thread (2000 training sequences of 10 frames of 32 × 32). Healing MNIST's settings
    # (Cauchy σ = 1, ℓ = 2, β = 0.8, encoder window 3, frame MLPs of width 256), with 16 latent channels
    # rather than 256 (sprites have 5 factors, not a digit's shape). Tuned on seed 0, both models alike.
    # With the Healing-MNIST share of missing pixels (the default: about 60% missing, one sprite pixel in
    # ten seen) pooling frames pays, and Adam 3e-3 converges within the 30 epochs. Figures: README, "Results".
    training = dict(epochs=30, batch_size=64, lr=3e-3)
    diagnosis = dict(draws=20, points=50, samples=100)
    settings = (
        Setting("kernel", "cauchy", "GP kernel: a registered kernel (pyrodisent list kernels), or sums/products like "
                "'rbf+periodic'", str),
        Setting("length_scale", 2.0, "kernel length scale ℓ, in frames", positive_float),
        Setting("kernel_scale", 1.0, "prior variance σ of each latent", positive_float),
        Setting("period", 10.0, "period of the periodic kernel, in frames", positive_float),
        Setting("learn_kernel", False, "learn the kernel hyperparameters per channel"),
        Setting("window", 3, "frames seen by the GP-VAE encoder's temporal convolution (odd)",
                number(int, at_least=1, odd=True, name="odd_int")),
        Setting("latent_dim", 16, "latent channels", positive_int),
        Setting("beta", 0.8, "weight of the KL term (reference: 0.8)", positive_float),
        Setting("kl_warmup_steps", 0, "the KL weight grows linearly from 0 to β over this many steps",
                nonnegative_int),
        Setting("width", 256, "hidden width of the networks", positive_int),
        Setting("num_frames", 10, "frames per sequence", positive_int),
        Setting("image_size", 32, "frame side in pixels", positive_int),
        Setting("missing_foreground", 0.9, "probability that a sprite pixel is missing", probability_below_one),
        Setting("missing_background", 0.6, "probability that a background pixel is missing (with 0.9: ~62% "
                "missing overall)", probability_below_one),
        Setting("num_train", 2000, "training sequences", positive_int),
        Setting("num_test", 500, "held-out sequences", positive_int),
        Setting("data_seed", 0, "seed of the sequences and their missingness", seed),
        Setting("classifier_frames", 5000, "imputed training frames the AUROC classifier is fit on", positive_int),
    )

    def load(self, model_name: str, seed: int) -> ProtocolData:
        source = SpriteSequences(num_frames=self.num_frames, image_size=self.image_size,
                                 missing_foreground=self.missing_foreground, missing_background=self.missing_background,
                                 seed=self.data_seed)
        rng = as_generator(self.data_seed)
        train, test = source.sample(self.num_train, rng), source.sample(self.num_test, rng)
        sequences = SEQUENCE in batch_needs(MODELS.get(model_name))
        data, test_data = (train.sequences(), test.sequences()) if sequences else (train.frames(), test.frames())
        return ProtocolData(train=data, test=test_data, train_sequences=train, test_sequences=test,
                            sequences=sequences, config=source.config())

    def training_arguments(self, training: Dict[str, Any], data: ProtocolData, model_name: str) -> Dict[str, Any]:
        arguments = dict(training)
        if not data.sequences:  # the same frames per step: batch_size sequences of num_frames frames
            arguments["batch_size"] = training["batch_size"] * self.num_frames
        return arguments

    def model_arguments(self, model_name: str, data: ProtocolData, training) -> Dict[str, Any]:
        width = self.width
        arguments = dict(super().model_arguments(model_name, data, training), latent_dim=self.latent_dim,
                         likelihood="bernoulli", beta=self.beta, kl_warmup_steps=self.kl_warmup_steps,
                         decoder_args=dict(hidden=(width, width)))
        if data.sequences:
            arguments.update(encoder_args=dict(hidden=(width,)), features=width, window=self.window,
                             kernel=self.kernel, length_scale=self.length_scale, kernel_scale=self.kernel_scale,
                             period=self.period, learn_kernel=self.learn_kernel)
        else:
            arguments.update(encoder_args=dict(hidden=(width, width)))
        return arguments

    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        from pyrodisent.runs.command_line import format_comparison

        train, test = data.train_sequences, data.test_sequences
        shape = lambda imputed, n: imputed.reshape(n, *train.complete.shape[1:])  # noqa: E731
        imputations = {context.model_name: (shape(impute(model, data.train), len(train)),
                                            shape(impute(model, data.test), len(test)))}
        means = observed_means(train.masked, train.observed_mask)
        imputations["mean_fill"] = (mean_fill(train.masked, train.observed_mask, means),
                                    mean_fill(test.masked, test.observed_mask, means))
        imputations["forward_fill"] = (forward_fill(train.masked, train.observed_mask, means),
                                       forward_fill(test.masked, test.observed_mask, means))
        scores = {name: self.imputation_scores(train, test, *pair, context.seed) for name, pair in imputations.items()}

        codes = encode(model, data.test)  # sequence models: (N, k, T) paths; frame models: (N·T, k)
        frame_codes = codes.transpose(0, 2, 1).reshape(-1, self.latent_dim) if data.sequences else codes
        metrics = {
            **scores[context.model_name],
            "mcc": mcc(flatten_frames(test.factors[..., list(CONTINUOUS_FACTORS)]), frame_codes),
            "train_seconds": context.result.train_seconds,
            "epochs": len(context.result.history),
        }
        for baseline in ("mean_fill", "forward_fill"):
            metrics.update({f"{baseline}_{key}": value for key, value in scores[baseline].items()})
        plot_imputed_sequences(test.complete, test.observed_mask, {name: pair[1] for name, pair in imputations.items()},
                               context.run.file("imputations.png"))
        print(format_comparison(scores, ["missing_nll", "missing_mse", "auroc"], "imputation of held-out sequences"),
              file=sys.stdout)
        return metrics

    def imputation_scores(self, train: SequenceSet, test: SequenceSet, train_imputed, test_imputed, seed_: int) -> dict:
        scores = missing_entry_scores(test.complete, test_imputed, test.observed_mask)
        per_frame = lambda labels: np.repeat(labels, train.num_frames)  # noqa: E731
        scores["auroc"] = downstream_auroc(flatten_frames(train_imputed), per_frame(train.labels),
                                           flatten_frames(test_imputed), per_frame(test.labels),
                                           max_train=self.classifier_frames, random_state=seed_)
        return scores

    def diagnosis_data(self, data: ProtocolData):
        return data.test

    def title(self, model_name: str, seed: int) -> str:
        sequence = f" ({self.kernel} kernel)" if model_name == "gp_vae" else ""
        return f"{model_name}{sequence} on sprite sequences, seed {seed}"
