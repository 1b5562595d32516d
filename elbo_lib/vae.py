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
from elbo_lib.bounds import iwae_bound
from elbo_lib.data import check_images
from elbo_lib.densities import LOG_2PI, log_normal
from elbo_lib.kl import _unit_kl
from elbo_lib.schedules import constant

LIKELIHOODS = ("bernoulli", "gaussian")
ESTIMATORS = ("pathwise", "dreg")
"""Gradient estimators of the IWAE bound for the encoder: the reparameterised gradient of the
bound itself, and the doubly reparameterised one (Tucker et al. 2019)."""
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

    def log_prior(self, z):
        r""":math:`\log p(z)` summed over the latent units, of shape ``z.shape[:-1]``; here the
        standard normal :math:`\mathcal N(0, I)` (:mod:`elbo_lib.priors` learns others)."""
        return log_normal(z).sum(-1)

    def sample_prior(self, n):
        """n draws z ~ p(z), shape (n, z_dim), from torch's global random state."""
        return torch.randn(n, self.z_dim)

    def prior_kl(self, mu, logvar, z):
        r""":math:`\mathrm{KL}(q(z \mid x)\,\|\,p(z))` of each image, shape (n,), for q's
        parameters (mu, logvar) (n, z_dim) and draws z (S, n, z_dim) from it: here in closed form
        (z unused); a learned prior averages :math:`\log q(z \mid x) - \log p(z)` over the draws.
        The model's own (mu, logvar) go in unchecked, as in the training step."""
        return _unit_kl(torch, mu, logvar).sum(-1)

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
        return (self.log_likelihood(x, z) + self.log_prior(z) - log_q).T

    @torch.no_grad()
    def sample(self, n):
        """n draws of the decoder's output (probabilities or means) at z ~ p(z): (n, x_dim)."""
        positive_int(n, "n")
        out = self.decode(self.sample_prior(n))
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
    k=1,
    estimator="pathwise",
):
    r"""Train ``model`` with Adam (:mod:`elbo_lib.adam`) on minibatches of ``x``, minimising

    .. math:: -\frac1B\sum_{b} \mathbb E_q[\log p(x_b \mid z)] + \beta_t \sum_j
              \max\big(\delta, \tfrac1B \textstyle\sum_b \mathrm{KL}_j(x_b)\big),

    with :math:`\delta` = ``free_bits`` (0: the plain β-weighted KL; Kingma et al. 2016).
    With ``k`` > 1 importance samples, or ``estimator="dreg"``, it minimises
    :func:`negative_iwae` instead, :math:`-\frac1B\sum_b \log\frac1K\sum_k r_{bk}` (the ELBO
    when K = 1), with the gradient of :func:`importance_weighted_loss`; β and free bits belong to
    the ELBO and stay 1 and 0.
    ``beta`` is a number or a schedule, a callable of the step t = 0, 1, … (see
    :mod:`elbo_lib.schedules`). The same ``seed`` (and the same initial model) gives the same
    history exactly; the global random state is left untouched.

    Returns a dict of per-epoch lists: ``"elbo"``, ``"reconstruction"``, ``"kl"`` (averages over
    the epoch's batches, nats per image, with the true KL; the reconstruction averaged over the
    K draws), ``"bound"`` (the bound trained on: :math:`\mathcal L_K`, or the ELBO) and
    ``"beta"`` (β at the epoch's last step). ``callback(epoch, history)``, if given, is called
    after each epoch (0, 1, …) with the history so far.
    """
    x = model.check_data(x)
    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    positive_number(lr, "lr")
    non_negative_number(free_bits, "free_bits")
    importance_weighted = _importance_weighted(k, estimator, beta, free_bits)
    schedule = beta if callable(beta) else constant(beta)
    n = len(x)
    history = {"elbo": [], "reconstruction": [], "kl": [], "bound": [], "beta": []}
    total = training_steps(n, epochs, batch_size)
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress)
    with seeded(seed), torch_threads():
        optimizer = Adam(model.parameters(), lr=lr)
        step = 0
        for epoch in range(epochs):
            shuffled = x[torch.randperm(n)]
            totals = torch.zeros(3, dtype=torch.float64)
            for start in range(0, n, batch_size):
                batch = shuffled[start : start + batch_size]
                beta_t = _check_beta(schedule(step), step)
                if importance_weighted:
                    reconstruction, kl, loss = _importance_weighted_step(model, batch, k, estimator)
                else:
                    reconstruction, kl = model._elbo_terms(batch)
                    loss = _negative_elbo(reconstruction, kl, beta_t, free_bits)
                reconstruction, kl = reconstruction.mean(), kl.mean(0)
                bound = -loss if importance_weighted else reconstruction - kl.sum()
                if not math.isfinite(loss.item()):
                    raise ValueError(f"training diverged at step {step}: the loss is {loss.item()}")
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                terms = [reconstruction.detach(), kl.detach().sum(), bound.detach()]
                totals += len(batch) * torch.stack(terms)
                step += 1
                bar.update()
            reconstruction, kl, bound = (totals / n).tolist()
            history["reconstruction"].append(reconstruction)
            history["kl"].append(kl)
            history["elbo"].append(reconstruction - kl)
            history["bound"].append(bound)
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
              \max\big(\delta, \tfrac1B \textstyle\sum_b \mathrm{KL}_j(x_b)\big)

    from ``reconstruction`` (B,), the one-sample :math:`\log p(x_b \mid z_b)` summed over
    pixels, and ``kl`` (B, z_dim), the KL of each latent unit to the prior. β = 1 and
    :math:`\delta` = ``free_bits`` = 0 give the negative ELBO; free bits (Kingma et al. 2016)
    stop charging a unit whose average KL is below δ."""
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


def negative_iwae(log_w):
    r"""The IWAE loss averaged over a batch of B images (Burda et al. 2016):

    .. math:: -\frac1B\sum_b \mathcal L_K(x_b), \qquad
              \mathcal L_K(x_b) = \log \frac1K \sum_{k=1}^K r_{bk}, \quad
              \log r_{bk} = \log p(x_b, z_{bk}) - \log q(z_{bk} \mid x_b),

    from the log importance weights ``log_w`` (B, K) (:meth:`VAE.log_importance_weights`),
    through :func:`elbo_lib.bounds.iwae_bound`. With K = 1 it is the negative ELBO of the same
    draw, :math:`-\frac1B\sum_b \log r_{b1}`."""
    if not (isinstance(log_w, torch.Tensor) and log_w.ndim == 2):
        raise ValueError(f"log_w must be a torch tensor of shape (B, K), got {log_w!r}")
    return -iwae_bound(log_w).mean()


def importance_weighted_loss(model, x, k, estimator="pathwise", seed=0):
    r""":func:`negative_iwae` of a batch x with K = ``k`` draws
    :math:`z_k = \mu + s \odot \varepsilon_k` per image (seeded): :func:`train_vae`'s loss with
    ``k``, whose gradient is the estimator ``estimator`` (:data:`ESTIMATORS`) of
    :math:`-\nabla \frac1B\sum_b\mathcal L_K(x_b)`:

    - ``"pathwise"``: the reparameterised gradient of the bound,
      :math:`\sum_k \tilde r_k \nabla \log r_k` with :math:`\tilde r_k = r_k / \sum_j r_j`;
    - ``"dreg"``: for the encoder the doubly reparameterised gradient (Tucker et al. 2019),
      :math:`\sum_k \tilde r_k^2\, \frac{\partial \log r_k}{\partial z_k}
      \frac{\partial z_k}{\partial \phi}` with q's parameters held fixed inside
      :math:`\log q(z_k \mid x)`; for the decoder the same as ``"pathwise"``.

    Both are unbiased for the same gradient."""
    x = model.check_data(x)
    positive_int(k, "k")
    _check_estimator(estimator)
    with seeded(seed):
        loss = _importance_weighted_step(model, x, k, estimator)[2]
    if not bool(torch.isfinite(loss)):
        raise ValueError("the loss is not finite: the model gave NaN or inf")
    return loss


def _log_weights(z, log_joint, mu, logvar, estimator="pathwise"):
    r""":math:`\log r_k = \log p(x, z_k) - \log q(z_k \mid x)` from draws ``z`` (..., K, n, d)
    of q = N(``mu``, diag exp(``logvar``)) and ``log_joint`` (..., K, n),
    :math:`\log p(x \mid z_k) + \log p(z_k)`: a tensor (..., K, n). With
    ``estimator="dreg"``, q's parameters are held fixed inside log q and the gradient that
    reaches each :math:`z_k` is multiplied by its normalised weight :math:`\tilde r_k`, so that
    the gradient of :math:`\log\frac1K\sum_k r_k` (and of nothing else) is the doubly
    reparameterised one (Tucker et al. 2019)."""
    _check_estimator(estimator)
    if estimator == "dreg":
        mu, logvar = mu.detach(), logvar.detach()
    log_w = log_joint - log_normal(z, mu, logvar=logvar).sum(-1)
    if estimator == "dreg" and z.requires_grad:
        weights = torch.softmax(log_w.detach(), dim=-2).unsqueeze(-1)
        z.register_hook(lambda grad: grad * weights)
    return log_w


def _importance_weighted_step(model, x, k, estimator):
    """(reconstruction (B,) averaged over the K draws, KL of each unit (B, z_dim), loss) of a
    checked batch x: the training step's terms with K importance samples. A model that gives
    NaN or inf gives a NaN loss, which the training step reports."""
    mu, logvar = model.encode(x)
    z = _reparameterize(torch, mu, logvar, torch.randn((k, *mu.shape), dtype=mu.dtype))
    log_likelihood = model._log_likelihood(x, z)  # (k, B)
    kl = model.prior_kl(mu, logvar, z)[:, None]  # (B, 1), for the history
    if not bool(torch.isfinite(log_likelihood).all() & torch.isfinite(kl).all()):
        return log_likelihood.mean(0), kl, torch.tensor(math.nan)
    log_w = _log_weights(z, log_likelihood + model.log_prior(z), mu, logvar, estimator)
    return log_likelihood.mean(0), kl, negative_iwae(log_w.T)


def _importance_weighted(k, estimator, beta, free_bits):
    """Whether train_vae trains on the IWAE bound; a ValueError for β or free bits with it."""
    positive_int(k, "k")
    _check_estimator(estimator)
    if k == 1 and estimator == "pathwise":
        return False
    if callable(beta) or beta != 1 or free_bits != 0:
        raise ValueError(
            "beta and free_bits belong to the ELBO: with k > 1 or estimator='dreg' leave them "
            f"at 1 and 0 (got beta={beta!r}, free_bits={free_bits!r})"
        )
    return True


def _check_estimator(estimator):
    if not (isinstance(estimator, str) and estimator in ESTIMATORS):
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


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
