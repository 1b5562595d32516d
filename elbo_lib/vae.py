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

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.adam import LR_LIMIT, Adam
from elbo_lib.bounds import iwae_bound
from elbo_lib.data import check_images
from elbo_lib.densities import LOG_2PI, log_normal
from elbo_lib.estimators import reparameterize
from elbo_lib.kl import kl_to_standard_normal
from elbo_lib.schedules import constant
from elbo_lib.validation import (
    anything,
    choice,
    count,
    flag,
    function,
    hidden,
    instance,
    model_data,
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
ESTIMATORS = ("pathwise", "dreg")
"""Gradient estimators of the IWAE bound for the encoder: the reparameterised gradient of the
bound itself, and the doubly reparameterised one (Tucker et al. 2019)."""
ESTIMATOR = choice(*ESTIMATORS)
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
elbo_terms_declaration = validate(model_data("x"), returns=_finite_terms, per_dimension=flag)
r"""The declaration of :meth:`VAE.elbo_terms`, for subclasses that override it."""


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
        r"""The parameters :math:`(\mu, \log s^2)` of q(z | x), each of shape (n, z_dim)."""
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
        Gaussian: :math:`-\tfrac12 \sum_i \big[\log 2\pi\sigma^2 + (x_i - f_i(z))^2/\sigma^2\big]`.
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

    @validate(z=tensor)
    def log_prior(self, z):
        r""":math:`\log p(z)` summed over the latent units, of shape ``z.shape[:-1]``; here the
        standard normal :math:`\mathcal N(0, I)` (:mod:`elbo_lib.priors` learns others)."""
        return log_normal(z).sum(-1)

    @validate(n=count(limit=COUNT_LIMIT))
    def sample_prior(self, n):
        """n draws z ~ p(z), shape (n, z_dim), from torch's global random state."""
        return torch.randn(n, self.z_dim)

    @validate(mu=tensor, logvar=tensor, z=tensor)
    def prior_kl(self, mu, logvar, z):
        r""":math:`\mathrm{KL}(q(z \mid x)\,\|\,p(z))` of each image, shape (n,), for q's
        parameters (mu, logvar) (n, z_dim) and draws z (S, n, z_dim) from it: here in closed form
        (z unused); a learned prior averages :math:`\log q(z \mid x) - \log p(z)` over the draws."""
        with skip_validation():  # checked above
            return kl_to_standard_normal(mu, logvar=logvar, per_dimension=True).sum(-1)

    @validate(mu=tensor, logvar=tensor)
    def sample_posterior(self, mu, logvar):
        r"""One reparameterised draw :math:`z = \mu + s \odot \varepsilon`,
        :math:`\varepsilon \sim \mathcal N(0, I)`, from q(z | x) with parameters (mu, logvar)."""
        return reparameterize(mu, logvar, torch.randn_like(mu))

    @elbo_terms_declaration
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
        r""":math:`\log r_k = \log p(x \mid z_k) + \log p(z_k) - \log q(z_k \mid x)`,
        :math:`z_k \sim q(z \mid x)`, of shape (n, k). Their mean over k estimates the ELBO,
        their log-mean-exp the IWAE bound (:func:`elbo_lib.bounds.iwae_bound`)."""
        mu, logvar = self.encode(x)
        eps = torch.randn((k, *mu.shape), dtype=mu.dtype)
        z = reparameterize(mu, logvar, eps)
        log_q = log_normal(z, mu, logvar=logvar).sum(-1)
        return (self.log_likelihood(x, z) + self.log_prior(z) - log_q).T

    @torch.no_grad()
    @validate(n=count(limit=COUNT_LIMIT))
    def sample(self, n):
        """n draws of the decoder's output (probabilities or means) at z ~ p(z): (n, x_dim)."""
        return self.pixel_means(self.decode(self.sample_prior(n)))

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
    k=count(limit=COUNT_LIMIT),
    estimator=ESTIMATOR,
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
    importance_weighted = _importance_weighted(k, estimator, beta, free_bits)
    schedule = beta if callable(beta) else constant(beta)
    n = len(x)
    history = {"elbo": [], "reconstruction": [], "kl": [], "bound": [], "beta": []}
    total = training_steps(n, epochs, batch_size)
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress)
    with seeded(seed), torch_threads(), skip_validation():  # the loss is checked at each step
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
                    reconstruction, kl = model.elbo_terms(batch, per_dimension=True)
                    loss = negative_elbo(reconstruction, kl, beta_t, free_bits)
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


@validate(n=count(limit=2**62), epochs=count(limit=2**62), batch_size=count(limit=2**62))
def training_steps(n, epochs, batch_size=BATCH_SIZE):
    r"""The number of optimiser steps :func:`train_vae` takes on n images:
    :math:`\text{epochs} \cdot \lceil n / \text{batch\_size} \rceil`."""
    return epochs * -(-n // batch_size)


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
              \max\big(\delta, \tfrac1B \textstyle\sum_b \mathrm{KL}_j(x_b)\big)

    from ``reconstruction`` (B,), the one-sample :math:`\log p(x_b \mid z_b)` summed over
    pixels, and ``kl`` (B, z_dim), the KL of each latent unit to the prior. β = 1 and
    :math:`\delta` = ``free_bits`` = 0 give the negative ELBO; free bits (Kingma et al. 2016)
    stop charging a unit whose average KL is below δ."""
    kl = kl.mean(0)
    kl_term = kl.clamp(min=free_bits).sum() if free_bits > 0 else kl.sum()
    return beta * kl_term - reconstruction.mean()


@validate(log_w=tensor)
def negative_iwae(log_w):
    r"""The IWAE loss averaged over a batch of B images (Burda et al. 2016):

    .. math:: -\frac1B\sum_b \mathcal L_K(x_b), \qquad
              \mathcal L_K(x_b) = \log \frac1K \sum_{k=1}^K r_{bk}, \quad
              \log r_{bk} = \log p(x_b, z_{bk}) - \log q(z_{bk} \mid x_b),

    from the log importance weights ``log_w`` (B, K) (:meth:`VAE.log_importance_weights`),
    through :func:`elbo_lib.bounds.iwae_bound`. With K = 1 it is the negative ELBO of the same
    draw, :math:`-\frac1B\sum_b \log r_{b1}`."""
    if log_w.ndim != 2:
        raise ValueError(f"log_w must be a torch tensor of shape (B, K), got {tuple(log_w.shape)}")
    return -iwae_bound(log_w).mean()


@validate(
    model_data("x", model="model"),
    model=instance(VAE),
    k=count(limit=COUNT_LIMIT),
    estimator=ESTIMATOR,
    seed=seed,
)
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
    with seeded(seed), skip_validation():  # the loss is checked
        loss = _importance_weighted_step(model, x, k, estimator)[2]
    if not bool(torch.isfinite(loss)):
        raise ValueError("the loss is not finite: the model gave NaN or inf")
    return loss


@validate(z=tensor, log_joint=tensor, mu=tensor, logvar=tensor, estimator=ESTIMATOR)
def log_weights_of_draws(z, log_joint, mu, logvar, estimator="pathwise"):
    r""":math:`\log r_k = \log p(x, z_k) - \log q(z_k \mid x)` from draws ``z`` (..., K, n, d)
    of q = N(``mu``, diag exp(``logvar``)) and ``log_joint`` (..., K, n),
    :math:`\log p(x \mid z_k) + \log p(z_k)`: a tensor (..., K, n). With
    ``estimator="dreg"``, q's parameters are held fixed inside log q and the gradient that
    reaches each :math:`z_k` is multiplied by its normalised weight :math:`\tilde r_k`, so that
    the gradient of :math:`\log\frac1K\sum_k r_k` (and of nothing else) is the doubly
    reparameterised one (Tucker et al. 2019)."""
    if estimator == "dreg":
        mu, logvar = mu.detach(), logvar.detach()
    log_w = log_joint - log_normal(z, mu, logvar=logvar).sum(-1)
    if estimator == "dreg" and z.requires_grad:
        weights = torch.softmax(log_w.detach(), dim=-2).unsqueeze(-1)
        z.register_hook(lambda grad: grad * weights)
    return log_w


def _importance_weighted_step(model, x, k, estimator):
    """(reconstruction (B,) averaged over the K draws, KL of each unit (B, z_dim), loss) of a
    checked batch x, run under skip_validation: the training step's terms with K importance
    samples. A model that gives NaN or inf gives a NaN loss, which the training step reports."""
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, torch.randn((k, *mu.shape), dtype=mu.dtype))
    log_likelihood = model.log_likelihood(x, z)  # (k, B)
    kl = model.prior_kl(mu, logvar, z)[:, None]  # (B, 1), for the history
    if not bool(torch.isfinite(log_likelihood).all() & torch.isfinite(kl).all()):
        return log_likelihood.mean(0), kl, torch.tensor(math.nan)
    log_w = log_weights_of_draws(z, log_likelihood + model.log_prior(z), mu, logvar, estimator)
    return log_likelihood.mean(0), kl, negative_iwae(log_w.T)


def _importance_weighted(k, estimator, beta, free_bits):
    """Whether train_vae trains on the IWAE bound; a ValueError for β or free bits with it."""
    if k == 1 and estimator == "pathwise":
        return False
    if callable(beta) or beta != 1 or free_bits != 0:
        raise ValueError(
            "beta and free_bits belong to the ELBO: with k > 1 or estimator='dreg' leave them "
            f"at 1 and 0 (got beta={beta!r}, free_bits={free_bits!r})"
        )
    return True


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
