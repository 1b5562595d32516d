r"""A small variational autoencoder and its training loop.

Prior :math:`p(z) = \mathcal N(0, I)`, decoder :math:`p_\theta(x \mid z)` (Bernoulli pixels, or
Gaussian pixels with one learned noise variance), encoder
:math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x))`, and

.. math:: \mathrm{ELBO}(x) = \mathbb E_{q}[\log p_\theta(x \mid z)]
          - \mathrm{KL}(q_\phi(z \mid x)\,\|\,p(z)) \le \log p_\theta(x).

Every quantity is in nats per image.
"""

import itertools
import math

import torch
from torch import nn
from tqdm.auto import tqdm

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.adam import LR_LIMIT, Adam
from elbo_lib.data import check_images
from elbo_lib.densities import LOG_2PI, log_normal
from elbo_lib.kl import kl_to_standard_normal
from elbo_lib.schedules import constant
from elbo_lib.validation import (
    anything,
    choice,
    count,
    finite,
    flag,
    function,
    hidden,
    instance,
    model_data,
    namespace,
    non_negative_number,
    optional,
    positive_real,
    real,
    seed,
    skip_validation,
    tensor,
    text,
    validate,
)

LIKELIHOODS = ("bernoulli", "gaussian")
BATCH_SIZE = 128  # train_vae's default minibatch
SIZE_LIMIT = 2**14  # widths of a layer


COUNT_LIMIT = 10**6  # samples, images, epochs, steps
FREE_BITS_LIMIT = 1e6  # nats per latent unit


def _finite_log_likelihood(out):
    if not bool(torch.isfinite(out).all()):
        raise ValueError("log p(x | z) is not finite: the decoder gave NaN or inf")


def _model_pixels(values):
    if values["self"].likelihood == "bernoulli":
        _pixels(values)


def _finite_terms(terms):
    for name, value in zip(("reconstruction", "kl"), terms, strict=True):
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"the {name} term is not finite: the model gave NaN or inf")


def _pixels(values, name="x"):
    x = values[name]
    if not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"{name} must lie in [0, 1] (got a pixel outside, or NaN)")


def _batch_shapes(values):
    reconstruction, kl = values["reconstruction"], values["kl"]
    if reconstruction.ndim != 1 or kl.ndim != 2 or len(kl) != len(reconstruction) or not len(kl):
        raise ValueError(
            f"reconstruction must have shape (B,) and kl (B, z_dim) with B ≥ 1, got "
            f"{tuple(reconstruction.shape)} and {tuple(kl.shape)}"
        )


log_likelihood_declaration = validate(
    _model_pixels, returns=_finite_log_likelihood, x=tensor, z=tensor
)
r"""The declaration of :meth:`VAE.log_likelihood`, for subclasses that override it."""


class VAE(nn.Module):
    r"""A VAE with MLP encoder and decoder; ``hidden=()`` makes both linear. A Gaussian decoder
    learns its noise variance σ², starting from ``sigma2``. (For an MLP VAE on pixels in
    [0, 1], a start near the pixel variance, 0.1, keeps the KL term from switching z off in the
    first epochs; a linear VAE reaches the pPCA optimum faster from 1.)

    Subclasses may change the decoder by overriding :meth:`_make_decoder`, :meth:`decode` and
    :meth:`log_likelihood`; everything else (ELBO, importance weights, training, diagnostics)
    goes through those.
    """

    @validate(
        x_dim=count(limit=SIZE_LIMIT),
        z_dim=count(limit=SIZE_LIMIT),
        hidden=hidden,
        likelihood=choice(*LIKELIHOODS),
        sigma2=positive_real,
    )
    def __init__(self, x_dim=64, z_dim=8, hidden=(256,), likelihood="bernoulli", sigma2=1.0):
        super().__init__()
        self.x_dim, self.z_dim, self.hidden, self.likelihood = x_dim, z_dim, hidden, likelihood
        self.encoder = _mlp(x_dim, hidden, 2 * z_dim)
        self.decoder = self._make_decoder()
        if likelihood == "gaussian":
            # log σ² of the pixel noise: one σ² shared by all pixels (isotropic, as in pPCA)
            self.log_sigma2 = nn.Parameter(torch.tensor(math.log(sigma2)))

    def _make_decoder(self):
        """The network from z to the decoder's parameters (here: logits or means of 64 pixels)."""
        return _mlp(self.z_dim, self.hidden[::-1], self.x_dim)

    @validate(x=tensor)
    def encode(self, x):
        r"""The parameters :math:`(\mu, \log\sigma^2)` of q(z | x), each of shape (n, z_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    @validate(z=tensor)
    def decode(self, z):
        """Bernoulli logits or Gaussian means of the pixels, shape ``z.shape[:-1] + (x_dim,)``."""
        return self.decoder(z)

    @log_likelihood_declaration
    def log_likelihood(self, x, z):
        r""":math:`\log p_\theta(x \mid z)` summed over pixels, of shape ``z.shape[:-1]``; z may
        carry leading sample axes, e.g. (k, n, z_dim) against x of shape (n, x_dim).

        Bernoulli: :math:`\sum_i x_i \ell_i - \log(1 + e^{\ell_i})` with logits :math:`\ell`;
        Gaussian: :math:`-\tfrac12 \sum_i \big[\log 2\pi\sigma^2 + (x_i - m_i)^2/\sigma^2\big]`.
        """
        out = self.decode(z)
        if self.likelihood == "bernoulli":
            with skip_validation():  # the result is checked
                return bernoulli_log_likelihood(x, out)
        squared = ((x - out) ** 2).sum(-1)
        return -0.5 * (self.x_dim * (LOG_2PI + self.log_sigma2) + squared / self.sigma2)

    @property
    def sigma2(self):
        """σ² of the Gaussian decoder's pixel noise."""
        return self.log_sigma2.exp()

    @validate(mu=tensor, logvar=tensor)
    def sample_posterior(self, mu, logvar):
        r"""One reparameterised draw :math:`z = \mu + \sigma \odot \varepsilon`,
        :math:`\varepsilon \sim \mathcal N(0, I)`, from q(z | x) with parameters (mu, logvar)."""
        return reparameterize(mu, logvar, torch.randn_like(mu))

    @validate(model_data("x"), returns=_finite_terms, per_dimension=flag)
    def elbo_terms(self, x, per_dimension=False):
        r"""One-sample estimates of :math:`\mathbb E_q[\log p(x \mid z)]` and the exact
        :math:`\mathrm{KL}(q(z \mid x)\,\|\,\mathcal N(0, I))`, each of shape (n,); the ELBO is
        their difference. ``per_dimension=True`` returns the KL of each latent unit, (n, z_dim).
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, torch.randn_like(mu))
        kl = kl_to_standard_normal(mu, logvar=logvar, per_dimension=True)
        return self.log_likelihood(x, z), kl if per_dimension else kl.sum(-1)

    @validate(model_data("x"), k=count(limit=COUNT_LIMIT))
    def log_importance_weights(self, x, k):
        r""":math:`\log w_k = \log p(x \mid z_k) + \log p(z_k) - \log q(z_k \mid x)`,
        :math:`z_k \sim q(z \mid x)`, of shape (n, k). Their mean over k estimates the ELBO,
        their log-mean-exp the IWAE bound (:func:`elbo_lib.bounds.iwae_bound`)."""
        mu, logvar = self.encode(x)
        eps = torch.randn((k, *mu.shape), dtype=mu.dtype)
        z = reparameterize(mu, logvar, eps)
        log_q = log_normal(z, mu, logvar=logvar).sum(-1)
        return (self.log_likelihood(x, z) + log_normal(z).sum(-1) - log_q).T

    @torch.no_grad()
    @validate(n=count(limit=COUNT_LIMIT))
    def sample(self, n):
        """n draws of the decoder's output (probabilities or means) at z ~ p(z): (n, x_dim)."""
        return self.pixel_means(self.decode(torch.randn(n, self.z_dim)))

    @validate(out=tensor)
    def pixel_means(self, out):
        """The decoder's output as pixel means: the probabilities sigmoid(logits) of a Bernoulli
        decoder, a Gaussian decoder's means as they are."""
        return out.sigmoid() if self.likelihood == "bernoulli" else out

    @validate(x=anything, name=text)
    def check_data(self, x, name="x"):
        """``x`` in the dtype of the model's parameters (e.g. float64 data for a float32 model),
        or a ValueError naming ``name`` unless x is a finite float tensor (n, x_dim) with n ≥ 1,
        in [0, 1] for Bernoulli pixels."""
        check_images(x, name, self.x_dim, unit_interval=self.likelihood == "bernoulli")
        return x.detach().to(next(self.parameters()).dtype)


@validate(
    model_data("x", model="model"),
    model=instance(VAE),
    epochs=count(limit=COUNT_LIMIT),
    beta=anything,
    batch_size=count(limit=COUNT_LIMIT),
    lr=real(0.0, LR_LIMIT),
    seed=seed,
    free_bits=real(0.0, FREE_BITS_LIMIT, strict=False),
    progress=flag,
    callback=optional(function),
)
def train_vae(
    model,
    x,
    *,
    epochs,
    beta=1.0,
    batch_size=BATCH_SIZE,
    lr=3e-3,
    seed=0,
    free_bits=0.0,
    progress=False,
    callback=None,
):
    r"""Train ``model`` with Adam (:mod:`elbo_lib.adam`) on minibatches of ``x``, minimising

    .. math:: -\frac1B\sum_{b} \mathbb E_q[\log p(x_b \mid z)] + \beta_t \sum_j
              \max\big(\lambda, \tfrac1B \textstyle\sum_b \mathrm{KL}_j(x_b)\big),

    with :math:`\lambda` = ``free_bits`` (0: the plain β-weighted KL; Kingma et al. 2016).
    ``beta`` is a number or a schedule, a callable of the step t = 0, 1, … (see
    :mod:`elbo_lib.schedules`). The same ``seed`` (and the same initial model) gives the same
    history exactly; the global random state is left untouched.

    Returns a dict of per-epoch lists: ``"elbo"``, ``"reconstruction"``, ``"kl"`` (averages over
    the epoch's batches, nats per image, with the true KL) and ``"beta"`` (β at the epoch's last
    step). ``callback(epoch, history)``, if given, is called after each epoch (0, 1, …) with
    the history so far.
    """
    schedule = beta if callable(beta) else constant(beta)
    n = len(x)
    history = {"elbo": [], "reconstruction": [], "kl": [], "beta": []}
    total = training_steps(n, epochs, batch_size)
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress)
    with seeded(seed), torch_threads(), skip_validation():  # the loss is checked at each step
        optimizer = Adam(model.parameters(), lr=lr)
        step = 0
        for epoch in range(epochs):
            shuffled = x[torch.randperm(n)]
            totals = torch.zeros(2, dtype=torch.float64)
            for start in range(0, n, batch_size):
                batch = shuffled[start : start + batch_size]
                beta_t = _check_beta(schedule(step), step)
                reconstruction, kl = model.elbo_terms(batch, per_dimension=True)
                loss = negative_elbo(reconstruction, kl, beta_t, free_bits)
                reconstruction, kl = reconstruction.mean(), kl.mean(0)
                if not math.isfinite(loss.item()):
                    raise ValueError(f"training diverged at step {step}: the loss is {loss.item()}")
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                totals += len(batch) * torch.stack([reconstruction.detach(), kl.detach().sum()])
                step += 1
                bar.update()
            reconstruction, kl = (totals / n).tolist()
            history["reconstruction"].append(reconstruction)
            history["kl"].append(kl)
            history["elbo"].append(reconstruction - kl)
            history["beta"].append(beta_t)
            if callback is not None:
                callback(epoch, history)
    bar.close()
    _check_last_step(model, batch, beta_t, free_bits, step - 1, seed)
    return history


@validate(n=count(limit=2**62), epochs=count(limit=2**62), batch_size=count(limit=2**62))
def training_steps(n, epochs, batch_size=BATCH_SIZE):
    r"""The number of optimiser steps :func:`train_vae` takes on n images:
    :math:`\text{epochs} \cdot \lceil n / \text{batch\_size} \rceil`."""
    return epochs * -(-n // batch_size)


@validate(mu=finite, logvar=finite, eps=finite)
def reparameterize(mu, logvar, eps):
    r""":math:`z = \mu + \sigma \odot \varepsilon` with :math:`\sigma = e^{\frac12\log\sigma^2}`:
    a draw from :math:`\mathcal N(\mu, \mathrm{diag}\,\sigma^2)` that is differentiable in
    (μ, log σ²) for a fixed standard-normal ``eps`` (leading sample axes broadcast)."""
    return mu + namespace(mu, logvar, eps).exp(0.5 * logvar) * eps


@validate(
    _batch_shapes,
    reconstruction=tensor,
    kl=tensor,
    beta=real(0.0, strict=False),
    free_bits=real(0.0, FREE_BITS_LIMIT, strict=False),
)
def negative_elbo(reconstruction, kl, beta=1.0, free_bits=0.0):
    r"""The VAE loss, averaged over a batch of B images:

    .. math:: -\frac1B\sum_b \log p(x_b \mid z_b) + \beta \sum_j
              \max\big(\lambda, \tfrac1B \textstyle\sum_b \mathrm{KL}_j(x_b)\big)

    from ``reconstruction`` (B,), the one-sample :math:`\log p(x_b \mid z_b)` summed over
    pixels, and ``kl`` (B, z_dim), the KL of each latent unit to the prior. β = 1 and
    :math:`\lambda` = ``free_bits`` = 0 give the negative ELBO; free bits (Kingma et al. 2016)
    stop charging a unit whose average KL is below λ."""
    kl = kl.mean(0)
    kl_term = kl.clamp(min=free_bits).sum() if free_bits > 0 else kl.sum()
    return beta * kl_term - reconstruction.mean()


@validate(_pixels, x=tensor, logits=tensor)
def bernoulli_log_likelihood(x, logits):
    r""":math:`\sum_i x_i \ell_i - \log(1 + e^{\ell_i})`, the log-probability of pixels x under
    independent Bernoulli distributions with logits :math:`\ell` (minus the cross-entropy),
    summed over the last axis. Logits must be finite and x in [0, 1]."""
    return (x * logits - nn.functional.softplus(logits)).sum(-1)


def _mlp(d_in, hidden, d_out):
    sizes = (d_in, *hidden)
    layers = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], d_out))


def _check_last_step(model, batch, beta, free_bits, step, seed):
    """The loss checks each update but the last: check it by the loss after it (with the model's
    parameters), so that a model that diverged on its last step is never returned."""
    finite_parameters = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    with seeded(seed), torch.no_grad(), skip_validation():
        loss = negative_elbo(*model.elbo_terms(batch, per_dimension=True), beta, free_bits).item()
    if not (finite_parameters and math.isfinite(loss)):
        raise ValueError(f"training diverged at step {step}: after it the loss is {loss}")


def _check_beta(beta, step):
    return non_negative_number(beta, f"beta at step {step}")
