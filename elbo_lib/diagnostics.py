r"""Measurements of a trained VAE: its ELBO, its log-likelihood, the gaps between them, which
latent units it uses and how its KL term splits.

Every function works for any :class:`elbo_lib.vae.VAE` (subclasses included): it uses only
``encode``, ``log_likelihood`` and ``log_importance_weights``. Each takes a ``seed`` and leaves
the global random state untouched, so repeated calls give the same numbers.
"""

import math
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.adam import LR_LIMIT, Adam
from elbo_lib.bounds import iwae_bound
from elbo_lib.densities import LOG_2PI, log_normal, over_variance
from elbo_lib.estimators import reparameterize
from elbo_lib.kl import kl_normal
from elbo_lib.linear_gaussian import ppca_log_likelihood
from elbo_lib.vae import VAE
from elbo_lib.validation import (
    COUNT_LIMIT,
    Kind,
    anything,
    as_numpy,
    count,
    flag,
    instance,
    log_weights,
    model_data,
    namespace,
    non_negative,
    optional,
    real,
    seed,
    skip_validation,
    torch_finite,
    vae_2d,
    validate,
)

_BUDGET = 2**16  # samples × images decoded at once: ~70 MB of activations for hidden=256
ACTIVE_THRESHOLD = 0.01
r"""A latent unit j is active when :math:`\mathrm{Var}_x \mathbb E_q[z_j \mid x]` exceeds this."""
KL_UNIT = 0.1
r"""nats: a unit whose KL is below this carries less information than this, as
:math:`I(X; Z_j) \le \mathbb E_x \mathrm{KL}(q(z_j \mid x)\,\|\,p(z_j))`."""
STARTS = ("encoder", "prior")
"""Where :func:`amortization_gap` starts its ascents: the encoder's q, and the prior N(0, I)."""
_EXPANDED_LIMIT = 1e7  # terms of an expanded quadratic below this lose less than 1e-7 nats
SAMPLES = 10**6  # samples per image (k, n_samples): drawn in blocks of _BUDGET
EXTENT = (1e-3, 50.0)  # a grid's half-width: 50 leaves e^{-1250} of the prior outside
GRID_POINTS = 1001  # grid points per axis
EDGE_MASS = 0.01
"""A grid whose edge cells hold more of an image's posterior than this misses mass: its
evidence and moments are off, and :func:`posterior_on_grid` warns."""
MODEL = instance(VAE)
DATA = model_data("x", model="model")


def _grid(value, name, xp):
    check_grid(value)
    return value


GRID = Kind("grid", _grid)


def _starts(value, name, xp):
    starts = tuple(value) if isinstance(value, list | tuple) else (value,)
    if not starts or not all(isinstance(s, str) and s in STARTS for s in starts):
        raise ValueError(f"{name} must be a non-empty tuple of {STARTS}, got {value!r}")
    return starts


STARTS_KIND = Kind("starts", _starts)


def _q_on_grid(values):
    n = len(values["grid"]["log_posterior"])
    for name in ("mu", "logvar"):
        if tuple(values[name].shape) != (n, 2):
            raise ValueError(f"{name} must have shape ({n}, 2), got {tuple(values[name].shape)}")


@torch.no_grad()
@validate(DATA, model=MODEL, n_samples=count(limit=SAMPLES), seed=seed)
def evaluate_elbo(model, x, n_samples=10, seed=0):
    r"""The ELBO of each image with its reconstruction term averaged over ``n_samples`` draws
    from q(z | x) and the KL to the model's prior (exact for N(0, I); averaged over the same
    draws for a learned prior, :mod:`elbo_lib.priors`). Returns a dict of tensors (n,): ``"elbo"``,
    ``"reconstruction"`` (:math:`\mathbb E_q[\log p(x \mid z)]`) and ``"kl"``."""
    with seeded(seed), torch_threads():
        mu, logvar = model.encode(x)
        eps = torch.randn((n_samples, *mu.shape))
        reconstruction = _reconstruction(model, x, mu, logvar, eps)
        kl = model.prior_kl(mu, logvar, reparameterize(mu, logvar, eps))
    return {"elbo": reconstruction - kl, "reconstruction": reconstruction, "kl": kl}


@torch.no_grad()
@validate(DATA, model=MODEL, k=count(limit=SAMPLES), seed=seed)
def importance_log_likelihood(model, x, k=1000, seed=0):
    r""":math:`\log p(x) \approx \log \frac1K \sum_{k=1}^K \frac{p(x, z_k)}{q(z_k \mid x)}`,
    :math:`z_k \sim q(z \mid x)`: the IWAE bound with K = ``k`` (Burda et al. 2016), a lower bound
    in expectation that tends to log p(x) as K grows. Images and samples are processed in blocks,
    so K = 5000 over the test set fits in memory. Returns a tensor (n,)."""
    rows = max(1, _BUDGET // k)
    estimates = []
    with seeded(seed), torch_threads():
        for block in x.split(rows):
            size = max(1, _BUDGET // len(block))
            pieces = [min(size, k - start) for start in range(0, k, size)]
            log_w = torch.cat([model.log_importance_weights(block, p) for p in pieces], dim=1)
            estimates.append(iwae_bound(log_w))
    return torch.cat(estimates)


@validate(
    DATA,
    model=MODEL,
    steps=count(limit=10**5),
    lr=real(0.0, LR_LIMIT),
    n_samples=count(limit=SAMPLES),
    n_eval=count(limit=SAMPLES),
    seed=seed,
    starts=STARTS_KIND,
    progress=flag,
)
def amortization_gap(
    model,
    x,
    steps=300,
    lr=0.01,
    n_samples=16,
    n_eval=1000,
    seed=0,
    starts=STARTS,
    progress=False,
):
    r"""How much ELBO the encoder leaves on the table (Cremer et al. 2018).

    From each start in ``starts`` (:data:`STARTS`: the encoder's :math:`(\mu, \log s^2)` and the
    prior's :math:`(0, 0)`), run ``steps`` of Adam on each image's own :math:`(\mu, \log s^2)`
    to maximise its ELBO (reparameterised, ``n_samples`` draws per step), the decoder fixed.
    Gradient ascent ends in a local optimum near its start, so the refined ELBO is the best of
    the encoder's q and every end point, all evaluated with the same ``n_eval`` draws of ε (the
    defaults have converged on the digits from the encoder's start: ``benchmarks/RESULTS.md``).
    ``progress`` shows a progress bar of the steps.

    Returns a dict of tensors: ``"amortized_elbo"``, ``"refined_elbo"`` and ``"gap"`` =
    refined − amortized ≥ 0, each (n,), and ``"end_elbo"`` (len(starts), n), the ELBO where
    each start's ascent ends.
    """
    with seeded(seed), torch_threads(), skip_validation():  # refined ELBOs are checked below
        with torch.no_grad():
            mu0, logvar0 = model.encode(x)
            eval_eps = torch.randn((n_eval, *mu0.shape))
            amortized = _elbo_of_q(model, x, mu0, logvar0, eval_eps)
        origin = {
            "encoder": (mu0, logvar0),
            "prior": (torch.zeros_like(mu0), torch.zeros_like(logvar0)),
        }
        mu = torch.cat([origin[start][0] for start in starts]).requires_grad_()
        logvar = torch.cat([origin[start][1] for start in starts]).requires_grad_()
        xs = x.repeat(len(starts), 1)  # each start refines its own copy of every image
        optimizer = Adam([mu, logvar], lr=lr)
        for _ in tqdm(range(steps), desc="refining q", unit="step", disable=not progress):
            eps = torch.randn((n_samples, *mu.shape))
            # images are independent: the sum's gradient for one image is that image's gradient
            with torch.enable_grad():
                loss = -_elbo_of_q(model, xs, mu, logvar, eps).sum()
                mu.grad, logvar.grad = torch.autograd.grad(loss, [mu, logvar])
            optimizer.step()
        with torch.no_grad():
            end = _elbo_of_q(model, xs, mu, logvar, eval_eps.repeat(1, len(starts), 1))
            end = end.reshape(len(starts), len(x))
            refined = torch.maximum(amortized, end.max(0).values)
    if not bool(torch.isfinite(refined).all()):
        raise ValueError(f"the refinement diverged: lower lr (now {lr!r})")
    return {
        "amortized_elbo": amortized,
        "refined_elbo": refined,
        "gap": refined - amortized,
        "end_elbo": end,
    }


@validate(DATA, model=MODEL, k=count(limit=SAMPLES), seed=seed)
def inference_gaps(model, x, k=1000, seed=0, **refinement):
    r"""The decomposition of Cremer et al. (2018), per image:

    .. math:: \log p(x) - \mathrm{ELBO}_{q_\phi}
              = \underbrace{\log p(x) - \mathrm{ELBO}_{q^*}}_{\text{approximation gap}}
              + \underbrace{\mathrm{ELBO}_{q^*} - \mathrm{ELBO}_{q_\phi}}_{\text{amortization gap}}

    with :math:`q^*` the refined per-image Gaussian (:func:`amortization_gap`, keyword arguments
    ``refinement``) and log p(x) from :func:`importance_log_likelihood` with K = ``k``.
    Returns a dict of tensors (n,): ``"log_likelihood"``, ``"amortized_elbo"``,
    ``"refined_elbo"``, ``"approximation_gap"``, ``"amortization_gap"``; and ``"end_elbo"``
    (starts, n) of :func:`amortization_gap`.
    """
    gaps = amortization_gap(model, x, seed=seed, **refinement)
    log_px = importance_log_likelihood(model, x, k=k, seed=seed)
    return {
        "log_likelihood": log_px,
        "amortized_elbo": gaps["amortized_elbo"],
        "refined_elbo": gaps["refined_elbo"],
        "approximation_gap": log_px - gaps["refined_elbo"],
        "amortization_gap": gaps["gap"],
        "end_elbo": gaps["end_elbo"],
    }


@torch.no_grad()
@validate(DATA, model=MODEL)
def linear_gaussian_log_likelihood(model, x):
    r"""The exact :math:`\log p(x)` of a VAE with a linear Gaussian decoder (``hidden=()``,
    ``likelihood="gaussian"``): :math:`p(x) = \int \mathcal N(x;\, Wz + b,\, \sigma^2 I)\,
    \mathcal N(z;\, 0, I)\,dz = \mathcal N(x;\, b,\, WW^\top + \sigma^2 I)`, the probabilistic
    PCA density (:func:`elbo_lib.linear_gaussian.ppca_log_likelihood`). Returns a tensor (n,)."""
    if model.hidden or model.likelihood != "gaussian":
        raise ValueError("model must be a VAE with hidden=() and likelihood='gaussian'")
    (layer,) = model.decoder
    log_px = ppca_log_likelihood(
        x.double().numpy(),
        layer.weight.double().numpy(),
        layer.bias.double().numpy(),
        float(model.sigma2),
    )
    return torch.as_tensor(log_px, dtype=x.dtype)


@torch.no_grad()
@validate(DATA, model=MODEL)
def kl_per_dimension(model, x):
    r""":math:`\frac1N\sum_n \mathrm{KL}(q(z_j \mid x_n)\,\|\,\mathcal N(0, 1))` for each latent
    unit j: a tensor (z_dim,) that sums to the average KL."""
    mu, logvar = model.encode(x)
    return kl_normal(mu, logvar_q=logvar).mean(0)


@torch.no_grad()
@validate(DATA, model=MODEL, threshold=non_negative)
def active_units(model, x, threshold=ACTIVE_THRESHOLD):
    r"""Which latent units are active (Burda et al. 2016): those with
    :math:`\mathrm{Var}_x\big(\mathbb E_{q}[z_j \mid x]\big) > ` ``threshold`` (the variance
    over the images in x, ``correction=0``). Returns a boolean tensor (z_dim,); ``.sum()``
    counts the active units."""
    mu, _ = model.encode(x)
    return mu.var(dim=0, correction=0) > threshold


@torch.no_grad()
@validate(DATA, model=MODEL, n_samples=count(limit=10**4), seed=seed)
def elbo_surgery(model, x, n_samples=10, seed=0):
    r"""The average KL split into two (Hoffman & Johnson 2016):

    .. math:: \frac1N\sum_n \mathrm{KL}(q(z \mid x_n)\,\|\,p(z))
              = I_q(X; Z) + \mathrm{KL}(\bar q(z)\,\|\,p(z)),
              \qquad \bar q(z) = \frac1N\sum_n q(z \mid x_n),

    with n uniform over the N images of x. The average KL is exact for the prior N(0, I) (for a
    learned prior, :mod:`elbo_lib.priors`, a Monte Carlo average over the same draws); the mutual
    information :math:`\mathbb E[\log q(z \mid x_n) - \log \bar q(z)]` and the marginal KL
    :math:`\mathbb E[\log \bar q(z) - \log p(z)]` are Monte Carlo averages over ``n_samples``
    draws of z per image, with :math:`\bar q(z)` summed exactly over all N images. Each term of
    the mutual information is at most log N, so the estimate is too.

    Returns a dict of floats (nats): ``"average_kl"``, ``"mutual_information"``,
    ``"marginal_kl"``, and ``"standard_error"``, the Monte Carlo standard error of their sum
    :math:`\mathbb E[\log q(z \mid x_n) - \log p(z)]` as an estimate of the average KL.
    """
    mu, logvar = (t.double() for t in model.encode(x))
    n, d = mu.shape
    with seeded(seed):
        eps = torch.randn((n_samples, n, d), dtype=torch.float64)
    z = reparameterize(mu, logvar, eps).reshape(-1, d)
    log_q_own = log_normal(z.reshape(n_samples, n, d), mu, logvar=logvar).sum(-1).reshape(-1)
    log_prior = model.log_prior(z)
    with torch_threads():
        log_q_aggregate = log_aggregate_posterior(z, mu, logvar)
    kl = model.prior_kl(mu, logvar, z.reshape(n_samples, n, d))
    error = (log_q_own - log_prior).reshape(n_samples, n) - kl  # each draw's error, mean 0
    return {
        "average_kl": float(kl.mean()),
        "mutual_information": float((log_q_own - log_q_aggregate).mean()),
        "marginal_kl": float((log_q_aggregate - log_prior).mean()),
        "standard_error": float(error.std() / math.sqrt(error.numel())),
    }


@validate(z=torch_finite, mu=torch_finite, logvar=torch_finite, log_weights=optional(torch_finite))
def log_aggregate_posterior(z, mu, logvar, log_weights=None):
    r"""The aggregate posterior :math:`\log \bar q(z_i) = \log \frac1N \sum_m q(z_i \mid x_m)` for
    each row :math:`z_i`, from the encoder's (mu, logvar) of the N images (each of shape (N, d)).
    With ``log_weights`` (N,), the log-density of any mixture of N diagonal Gaussians,
    :math:`\log \sum_m e^{\text{log\_weights}_m}\, \mathcal N(z_i;\, \mu_m, \mathrm{diag}\,
    e^{\text{logvar}_m})` (the weights should sum to 1; :mod:`elbo_lib.priors` uses it).

    The Gaussian exponents for every (i, m) are matrix products over the latent axis, in blocks:
    :math:`\sum_j p_{mj}(z_{ij} - \mu_{mj})^2 = z_i^2 \cdot p_m - 2 z_i \cdot (\mu_m p_m)
    + \mu_m^2 \cdot p_m` with the precisions :math:`p = e^{-\log s^2}`. That expansion loses
    about :math:`10^{-15}` of the size of its terms; where they exceed :data:`_EXPANDED_LIMIT`
    (tiny variances away from 0) the exponent is computed from the differences instead, so each
    is exact to about :math:`10^{-7}` nats."""
    xp = namespace(z)
    dtype = torch.promote_types(torch.promote_types(z.dtype, mu.dtype), logvar.dtype)
    z, mu, logvar = z.to(dtype), mu.to(dtype), logvar.to(dtype)
    if mu.ndim != 2 or len(mu) == 0 or logvar.shape != mu.shape:
        raise ValueError(
            f"mu and logvar must be (N, d) with N ≥ 1, got {tuple(mu.shape)} and "
            f"{tuple(logvar.shape)}"
        )
    if z.ndim != 2 or z.shape[1] != mu.shape[1]:
        raise ValueError(f"z must be (M, {mu.shape[1]}), got {tuple(z.shape)}")
    n, d = mu.shape
    if log_weights is None:
        log_weights = torch.full((n,), -math.log(n), dtype=mu.dtype)
    else:
        log_weights = log_weights.to(dtype)
        if log_weights.shape != (n,):
            raise ValueError(f"log_weights must be ({n},), got {tuple(log_weights.shape)}")
    precision = (-logvar).exp()
    square_mu = (mu**2 * precision).sum(-1)
    constant = log_weights - 0.5 * (d * LOG_2PI + logvar.sum(-1) + square_mu)
    blocks = []
    for zi in z.split(max(1, 2**22 // n)):
        square_z = zi**2 @ precision.T
        exponent = constant - 0.5 * square_z + zi @ (mu * precision).T
        loose = torch.nonzero(~(square_z + square_mu <= _EXPANDED_LIMIT))  # NaN or inf: loose
        for pairs in loose.split(2**16):  # exact from the differences, 2**16 pairs at a time
            i, m = pairs.T
            quadratic = over_variance(xp, zi[i] - mu[m], None, logvar[m]).sum(-1)
            exponent[i, m] = log_weights[m] - 0.5 * (d * LOG_2PI + logvar[m].sum(-1) + quadratic)
        blocks.append(torch.logsumexp(exponent, dim=1))
    return torch.cat(blocks)


def _elbo_of_q(model, x, mu, logvar, eps):
    kl = model.prior_kl(mu, logvar, reparameterize(mu, logvar, eps))
    return _reconstruction(model, x, mu, logvar, eps) - kl


def _reconstruction(model, x, mu, logvar, eps):
    """The average over the draws eps (s, n, d), decoded in blocks of about _BUDGET samples."""
    blocks = eps.split(max(1, _BUDGET // len(x)))
    total = sum(model.log_likelihood(x, reparameterize(mu, logvar, e)).sum(0) for e in blocks)
    return total / len(eps)


@torch.no_grad()
@validate(DATA, model=vae_2d, extent=real(EXTENT[0], EXTENT[1]), n=count(3, GRID_POINTS))
def posterior_on_grid(model, x, extent=4.0, n=101):
    r"""The true posterior of a model with a 2-D latent, on the n × n grid of
    :math:`[-e, e]^2` (e = ``extent``), normalised by quadrature with the cell area
    :math:`\Delta z_1 \Delta z_2`, :math:`\Delta = 2e/(n-1)`:

    .. math:: \log p(x) \approx \log \sum_{a,b} p(x \mid z_{ab})\,p(z_{ab})\,
              \Delta z_1 \Delta z_2, \qquad
              \log p(z_{ab} \mid x) = \log p(x \mid z_{ab}) + \log p(z_{ab}) - \log p(x).

    The sum is a log-sum-exp; the grid must hold the posterior's mass (the prior N(0, I) puts
    :math:`e^{-e^2/2}` of its mass outside the disc of radius e). Each grid point is decoded once
    and scored against every image, in blocks.

    Returns a dict: ``"z1"``, ``"z2"`` (the grid axes, (n,) each), ``"log_posterior"``
    (n_images, n, n), row i and column j at :math:`(z_1, z_2) = (z1_j, z2_i)` (the layout of
    ``imshow`` and ``contour``), with ``exp(log_posterior).sum() · Δz1 · Δz2 = 1`` per image,
    ``"log_evidence"`` (n_images,), log p(x) by quadrature, and ``"edge_mass"`` (n_images,), the
    posterior's mass in the cells of the grid's edge; a ``RuntimeWarning`` names the images whose
    edge mass exceeds :data:`EDGE_MASS` (widen ``extent``).
    """
    axis = torch.linspace(-extent, extent, n, dtype=x.dtype)
    z2, z1 = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=-1)  # (n², 2), row-major in z2
    log_area = 2 * math.log(2 * extent / (n - 1))
    with torch_threads():
        blocks = [
            model.log_likelihood(x, z[:, None, :]) + model.log_prior(z)[:, None]
            for z in grid.split(max(1, _BUDGET // len(x)))
        ]
    log_joint = torch.cat(blocks).T  # (n_images, n²)
    log_evidence = torch.logsumexp(log_joint, dim=1) + log_area
    log_posterior = (log_joint - log_evidence[:, None]).reshape(len(x), n, n)
    edge = torch.ones(n, n, dtype=torch.bool)
    edge[1:-1, 1:-1] = False
    edge_mass = (log_posterior[:, edge].exp().sum(1) * math.exp(log_area)).clamp(max=1.0)
    missed = torch.nonzero(edge_mass > EDGE_MASS).flatten().tolist()
    if missed:
        warnings.warn(
            f"the grid misses posterior mass: images {missed[:10]} hold up to "
            f"{float(edge_mass.max()):.2g} of it in the edge cells (above {EDGE_MASS:g}) of "
            f"extent={extent:g}: widen extent",
            RuntimeWarning,
            stacklevel=4,  # past the declaration and no_grad: the caller
        )
    return {
        "z1": axis,
        "z2": axis,
        "log_posterior": log_posterior,
        "log_evidence": log_evidence,
        "edge_mass": edge_mass,
    }


@validate(grid=GRID)
def grid_posterior_moments(grid):
    r"""Mean and covariance of each posterior of :func:`posterior_on_grid`, by quadrature:
    :math:`m = \sum_{a,b} z_{ab}\, p(z_{ab} \mid x)\,\Delta z_1 \Delta z_2` and
    :math:`\Sigma = \sum_{a,b} (z_{ab} - m)(z_{ab} - m)^\top p(z_{ab} \mid x)\,
    \Delta z_1 \Delta z_2`. Returns ``(mean, cov)`` of shapes (n_images, 2) and (n_images, 2, 2)."""
    weights, z = _grid_weights(grid)
    mean = weights @ z
    centred = z[None] - mean[:, None]  # (n_images, n², 2)
    cov = torch.einsum("kg,kgi,kgj->kij", weights, centred, centred)
    return mean, cov


@validate(_q_on_grid, grid=GRID, mu=torch_finite, logvar=torch_finite)
def grid_kl_to_posterior(grid, mu, logvar):
    r""":math:`\mathrm{KL}(q\,\|\,p(z \mid x)) = \sum_{a,b} q(z_{ab}) \big[\log q(z_{ab})
    - \log p(z_{ab} \mid x)\big]\,\Delta z_1 \Delta z_2` for each image, with
    :math:`q = \mathcal N(\mu, \mathrm{diag}\, e^{\log s^2})` (``mu``, ``logvar`` of shape
    (n_images, 2)) and the posterior of :func:`posterior_on_grid`; q is normalised on the same
    grid. It equals :math:`\log p(x) - \mathrm{ELBO}(q)` (notebook 02). Returns a tensor
    (n_images,)."""
    z = _grid_weights(grid)[1]
    log_q = log_normal(z[None], mu[:, None], logvar=logvar[:, None]).sum(-1)
    if not bool(torch.isfinite(torch.logsumexp(log_q, dim=1)).all()):
        raise ValueError("mu and logvar put no mass of q on any grid point of grid")
    with skip_validation():  # checked above
        return grid_kl_of_density(grid, log_q)


def _density_on_grid(values):
    grid, log_q = values["grid"], values["log_q"]
    n, points = len(grid["log_posterior"]), len(grid["z1"]) * len(grid["z2"])
    if log_q.ndim < 2 or tuple(log_q.shape[:1]) != (n,) or log_q[0].numel() != points:
        raise ValueError(
            f"log_q must hold q's log-density at the grid's points, ({n}, {points}) or "
            f"({n}, {len(grid['z2'])}, {len(grid['z1'])}), got {tuple(log_q.shape)}"
        )
    if not bool(torch.isfinite(torch.logsumexp(log_q.flatten(1), dim=1)).all()):
        raise ValueError("log_q puts no mass of q on any grid point of grid")


@validate(_density_on_grid, grid=GRID, log_q=log_weights)
def grid_kl_of_density(grid, log_q):
    r""":math:`\mathrm{KL}(q\,\|\,p(z \mid x))` for each image by quadrature on the grid of
    :func:`posterior_on_grid`, from q's log-density ``log_q`` at the grid's points ((n_images,
    n²) or (n_images, len(z2), len(z1)); -inf where q has no mass), q normalised on the grid:
    :func:`grid_kl_to_posterior` for a density of any form (e.g. a flow's,
    :func:`elbo_lib.flows.grid_log_density`). Returns a tensor (n_images,)."""
    log_q = log_q.flatten(1)
    log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True)  # q's mass in each cell
    log_p = grid["log_posterior"].flatten(1) + math.log(_cell_area(grid))  # the posterior's
    terms = log_q.exp() * (log_q - log_p)
    return torch.where(log_q > -math.inf, terms, 0.0).sum(1)  # 0 log 0 = 0


def _grid_weights(grid):
    """The posterior's mass in each grid cell (n_images, n²) and the grid points (n², 2)."""
    rows, cols = torch.meshgrid(grid["z2"], grid["z1"], indexing="ij")
    z = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=-1)
    return grid["log_posterior"].flatten(1).exp() * _cell_area(grid), z


def _cell_area(grid):
    return float((grid["z1"][1] - grid["z1"][0]) * (grid["z2"][1] - grid["z2"][0]))


@validate(grid=anything, n_images=optional(count(limit=COUNT_LIMIT)))
def check_grid(grid, n_images=None):
    """Raise a ValueError naming ``grid`` unless it is a result of :func:`posterior_on_grid` (for
    ``n_images`` images, if given)."""
    keys = ("z1", "z2", "log_posterior")
    if not (isinstance(grid, dict) and all(isinstance(grid.get(k), torch.Tensor) for k in keys)):
        raise ValueError(f"grid must be a dict of tensors {keys} (posterior_on_grid), got {grid!r}")
    shape = [len(grid["log_posterior"]) if n_images is None else n_images]
    for axis in ("z2", "z1"):
        values = as_numpy(grid[axis], f"grid[{axis!r}]")
        steps = np.diff(values) if values.ndim == 1 else np.zeros(0)
        if values.ndim != 1 or len(values) < 2 or not np.all(steps > 0):
            raise ValueError(f"grid[{axis!r}] must be an increasing 1-D axis of two points or more")
        if not np.allclose(steps, steps[0], rtol=1e-3, atol=0):
            raise ValueError(f"grid[{axis!r}] must be evenly spaced")
        shape.append(len(values))
    log_posterior = as_numpy(grid["log_posterior"], "grid['log_posterior']", finite=False)
    if list(log_posterior.shape) != shape or np.any(log_posterior == np.inf):
        raise ValueError(f"grid['log_posterior'] must be finite or -inf, of shape {tuple(shape)}")
