r"""A small variational autoencoder and its training loop.

Prior :math:`p(z) = \mathcal N(0, I)`, decoder :math:`p_\theta(x \mid z)` (Bernoulli pixels, or
Gaussian pixels with one learned noise variance), encoder
:math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \mathrm{diag}\,s^2_\phi(x))`, and

.. math:: \mathrm{ELBO}(x) = \mathbb E_{q}[\log p_\theta(x \mid z)]
          - \mathrm{KL}(q_\phi(z \mid x)\,\|\,p(z)) \le \log p_\theta(x).

Every quantity is in nats per image.
"""

import itertools
import math

import torch
from torch import nn
from tqdm.auto import tqdm

from elbo_lib._arrays import (
    check_finite,
    finite,
    namespace,
    non_negative_number,
    positive_int,
    positive_number,
)
from elbo_lib._torch import seeded, torch_threads
from elbo_lib.adam import Adam
from elbo_lib.data import check_images
from elbo_lib.densities import LOG_2PI, log_normal
from elbo_lib.kl import _unit_kl
from elbo_lib.schedules import constant

LIKELIHOODS = ("bernoulli", "gaussian")
BATCH_SIZE = 128  # train_vae's default minibatch


class VAE(nn.Module):
    r"""A VAE with MLP encoder and decoder; ``hidden=()`` makes both linear. A Gaussian decoder
    learns its noise variance σ², starting from ``sigma2``. (For an MLP VAE on pixels in
    [0, 1], a start near the pixel variance, 0.1, keeps the KL term from switching z off in the
    first epochs; a linear VAE reaches the pPCA optimum faster from 1.)

    Subclasses may change the decoder by overriding :meth:`_make_decoder`, :meth:`decode` and
    :meth:`log_likelihood`; everything else (ELBO, importance weights, training, diagnostics)
    goes through those.
    """

    def __init__(self, x_dim=64, z_dim=8, hidden=(256,), likelihood="bernoulli", sigma2=1.0):
        super().__init__()
        positive_int(x_dim, "x_dim")
        positive_int(z_dim, "z_dim")
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        for h in hidden:
            positive_int(h, "each entry of hidden")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        positive_number(sigma2, "sigma2")
        self.x_dim, self.z_dim, self.hidden, self.likelihood = x_dim, z_dim, hidden, likelihood
        self.encoder = _mlp(x_dim, hidden, 2 * z_dim)
        self.decoder = self._make_decoder()
        if likelihood == "gaussian":
            # log σ² of the pixel noise: one σ² shared by all pixels (isotropic, as in pPCA)
            self.log_sigma2 = nn.Parameter(torch.tensor(math.log(sigma2)))

    def _make_decoder(self):
        """The network from z to the decoder's parameters (here: logits or means of 64 pixels)."""
        return _mlp(self.z_dim, self.hidden[::-1], self.x_dim)

    def encode(self, x):
        r"""The parameters :math:`(\mu, \log s^2)` of q(z | x), each of shape (n, z_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z):
        """Bernoulli logits or Gaussian means of the pixels, shape ``z.shape[:-1] + (x_dim,)``."""
        return self.decoder(z)

    def log_likelihood(self, x, z):
        r""":math:`\log p_\theta(x \mid z)` summed over pixels, of shape ``z.shape[:-1]``; z may
        carry leading sample axes, e.g. (k, n, z_dim) against x of shape (n, x_dim).

        Bernoulli: :math:`\sum_i x_i \ell_i - \log(1 + e^{\ell_i})` with logits :math:`\ell`;
        Gaussian: :math:`-\tfrac12 \sum_i \big[\log 2\pi\sigma^2 + (x_i - f_i(z))^2/\sigma^2\big]`.
        """
        if self.likelihood == "bernoulli":
            _check_pixels(x)
        out = self._log_likelihood(x, z)
        if not bool(torch.isfinite(out).all()):
            raise ValueError("log p(x | z) is not finite: the decoder gave NaN or inf")
        return out

    def _log_likelihood(self, x, z):
        """:meth:`log_likelihood` without its checks (the training step checks its loss)."""
        out = self.decode(z)
        if self.likelihood == "bernoulli":
            return _bernoulli_log_likelihood(x, out)
        squared = ((x - out) ** 2).sum(-1)
        return -0.5 * (self.x_dim * (LOG_2PI + self.log_sigma2) + squared / self.sigma2)

    @property
    def sigma2(self):
        """σ² of the Gaussian decoder's pixel noise."""
        return self.log_sigma2.exp()

    def sample_posterior(self, mu, logvar):
        r"""One reparameterised draw :math:`z = \mu + s \odot \varepsilon`,
        :math:`\varepsilon \sim \mathcal N(0, I)`, from q(z | x) with parameters (mu, logvar)."""
        return reparameterize(mu, logvar, torch.randn_like(mu))

    def elbo_terms(self, x, per_dimension=False):
        r"""One-sample estimates of :math:`\mathbb E_q[\log p(x \mid z)]` and the exact
        :math:`\mathrm{KL}(q(z \mid x)\,\|\,\mathcal N(0, I))`, each of shape (n,); the ELBO is
        their difference. ``per_dimension=True`` returns the KL of each latent unit, (n, z_dim).
        """
        reconstruction, kl = self._elbo_terms(self.check_data(x))
        check_finite(reconstruction=reconstruction, kl=kl)
        return reconstruction, kl if per_dimension else kl.sum(-1)

    def _elbo_terms(self, x):
        """(reconstruction (n,), KL of each unit (n, z_dim)) of a checked x, the training step's
        terms: the model's own outputs go unchecked into the formulas (the loss is checked)."""
        mu, logvar = self.encode(x)
        z = _reparameterize(torch, mu, logvar, torch.randn_like(mu))
        return self._log_likelihood(x, z), _unit_kl(torch, mu, logvar)

    def log_importance_weights(self, x, k):
        r""":math:`\log r_k = \log p(x \mid z_k) + \log p(z_k) - \log q(z_k \mid x)`,
        :math:`z_k \sim q(z \mid x)`, of shape (n, k). Their mean over k estimates the ELBO,
        their log-mean-exp the IWAE bound (:func:`elbo_lib.bounds.iwae_bound`)."""
        x = self.check_data(x)
        positive_int(k, "k")
        mu, logvar = self.encode(x)
        eps = torch.randn((k, *mu.shape), dtype=mu.dtype)
        z = reparameterize(mu, logvar, eps)
        log_q = log_normal(z, mu, logvar=logvar).sum(-1)
        return (self.log_likelihood(x, z) + log_normal(z).sum(-1) - log_q).T

    @torch.no_grad()
    def sample(self, n):
        """n draws of the decoder's output (probabilities or means) at z ~ p(z): (n, x_dim)."""
        positive_int(n, "n")
        out = self.decode(torch.randn(n, self.z_dim))
        return out.sigmoid() if self.likelihood == "bernoulli" else out

    def check_data(self, x, name="x"):
        """``x`` in the dtype of the model's parameters (e.g. float64 data for a float32 model),
        or a ValueError naming ``name`` unless x is a finite float tensor (n, x_dim) with n ≥ 1,
        in [0, 1] for Bernoulli pixels."""
        check_images(x, name, self.x_dim, unit_interval=self.likelihood == "bernoulli")
        return x.detach().to(next(self.parameters()).dtype)


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
    x = model.check_data(x)
    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    positive_number(lr, "lr")
    non_negative_number(free_bits, "free_bits")
    schedule = beta if callable(beta) else constant(beta)
    n = len(x)
    history = {"elbo": [], "reconstruction": [], "kl": [], "beta": []}
    total = training_steps(n, epochs, batch_size)
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress)
    with seeded(seed), torch_threads():
        optimizer = Adam(model.parameters(), lr=lr)
        step = 0
        for epoch in range(epochs):
            shuffled = x[torch.randperm(n)]
            totals = torch.zeros(2, dtype=torch.float64)
            for start in range(0, n, batch_size):
                batch = shuffled[start : start + batch_size]
                beta_t = _check_beta(schedule(step), step)
                reconstruction, kl = model._elbo_terms(batch)
                loss = _negative_elbo(reconstruction, kl, beta_t, free_bits)
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


def training_steps(n, epochs, batch_size=BATCH_SIZE):
    r"""The number of optimiser steps :func:`train_vae` takes on n images:
    :math:`\text{epochs} \cdot \lceil n / \text{batch\_size} \rceil`."""
    n, epochs = positive_int(n, "n"), positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    return epochs * -(-n // batch_size)


def reparameterize(mu, logvar, eps):
    r""":math:`z = \mu + s \odot \varepsilon` with :math:`s = e^{\frac12\log s^2}`:
    a draw from :math:`\mathcal N(\mu, \mathrm{diag}\,s^2)` that is differentiable in
    (μ, log s²) for a fixed standard-normal ``eps`` (leading sample axes broadcast)."""
    xp = namespace(mu, logvar, eps)
    mu, logvar, eps = finite(xp, mu, "mu"), finite(xp, logvar, "logvar"), finite(xp, eps, "eps")
    return _reparameterize(xp, mu, logvar, eps)


def _reparameterize(xp, mu, logvar, eps):
    """:func:`reparameterize` without its checks."""
    return mu + xp.exp(0.5 * logvar) * eps


def negative_elbo(reconstruction, kl, beta=1.0, free_bits=0.0):
    r"""The VAE loss, averaged over a batch of B images:

    .. math:: -\frac1B\sum_b \log p(x_b \mid z_b) + \beta \sum_j
              \max\big(\lambda, \tfrac1B \textstyle\sum_b \mathrm{KL}_j(x_b)\big)

    from ``reconstruction`` (B,), the one-sample :math:`\log p(x_b \mid z_b)` summed over
    pixels, and ``kl`` (B, z_dim), the KL of each latent unit to the prior. β = 1 and
    :math:`\lambda` = ``free_bits`` = 0 give the negative ELBO; free bits (Kingma et al. 2016)
    stop charging a unit whose average KL is below λ."""
    beta, free_bits = non_negative_number(beta, "beta"), non_negative_number(free_bits, "free_bits")
    for name, value in (("reconstruction", reconstruction), ("kl", kl)):
        if not (isinstance(value, torch.Tensor) and bool(torch.isfinite(value).all())):
            raise ValueError(f"{name} must be a torch tensor of finite numbers")
    return _negative_elbo(reconstruction, kl, beta, free_bits)


def _negative_elbo(reconstruction, kl, beta, free_bits):
    """:func:`negative_elbo` without its checks."""
    kl = kl.mean(0)
    kl_term = kl.clamp(min=free_bits).sum() if free_bits > 0 else kl.sum()
    return beta * kl_term - reconstruction.mean()


def bernoulli_log_likelihood(x, logits):
    r""":math:`\sum_i x_i \ell_i - \log(1 + e^{\ell_i})`, the log-probability of pixels x under
    independent Bernoulli distributions with logits :math:`\ell` (minus the cross-entropy),
    summed over the last axis. Logits must be finite and x in [0, 1]."""
    if not bool(torch.isfinite(logits).all()):
        raise ValueError("logits must be finite (got NaN or inf)")
    _check_pixels(x)
    return _bernoulli_log_likelihood(x, logits)


def _bernoulli_log_likelihood(x, logits):
    """:func:`bernoulli_log_likelihood` without its checks."""
    return (x * logits - nn.functional.softplus(logits)).sum(-1)


def _check_pixels(x):
    if not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError("x must lie in [0, 1] (got a pixel outside, or NaN)")


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
    with seeded(seed), torch.no_grad():
        loss = _negative_elbo(*model._elbo_terms(batch), beta, free_bits).item()
    if not (finite_parameters and math.isfinite(loss)):
        raise ValueError(f"training diverged at step {step}: after it the loss is {loss}")


def _check_beta(beta, step):
    return non_negative_number(beta, f"beta at step {step}")
