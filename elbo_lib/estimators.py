r"""Monte Carlo estimators of :math:`\nabla_\phi\, \mathbb E_{q_\phi}[f(z)]` for a Gaussian
:math:`q_\phi = \mathcal N(\mu, \sigma^2)`, :math:`\phi = (\mu, \log\sigma^2)`.

* score function (REINFORCE, likelihood ratio):
  :math:`\nabla_\phi \mathbb E_q[f] = \mathbb E_q\big[(f(z) - b)\, \nabla_\phi \log q_\phi(z)\big]`
  for any constant baseline b;
* pathwise (reparameterised): :math:`z = \mu + \sigma\varepsilon` with
  :math:`\varepsilon \sim \mathcal N(0, 1)`, so :math:`\nabla_\phi \mathbb E_q[f]
  = \mathbb E_\varepsilon\big[f'(z)\, \partial z/\partial\phi\big]`.

Both return one row of :math:`(\partial/\partial\mu,\ \partial/\partial\log\sigma^2)` per sample:
their mean is the estimate, their spread the estimator's variance.
"""

import math

import numpy as np
import torch

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.vae import reparameterize
from elbo_lib.validation import (
    count,
    function,
    positive_real,
    real_number,
    validate,
)
from elbo_lib.validation import seed as seed_kind

SAMPLE_LIMIT = 10**7  # n_samples: 16 bytes each, twice


@validate(
    f=function,
    mu=real_number,
    var=positive_real,
    n_samples=count(limit=SAMPLE_LIMIT),
    baseline=real_number,
    seed=seed_kind,
)
def score_function_gradients(f, mu, var, n_samples, *, baseline=0.0, seed=0):
    r"""Single-sample score-function estimates, shape (n_samples, 2), for
    :math:`z \sim \mathcal N(\mu, \sigma^2)`:

    .. math:: \big(f(z) - b\big)\, \nabla_{(\mu, \log\sigma^2)} \log \mathcal N(z;\, \mu, \sigma^2)
              = \big(f(z) - b\big) \Big(\frac{z - \mu}{\sigma^2},\
              \tfrac12\Big[\frac{(z - \mu)^2}{\sigma^2} - 1\Big]\Big)

    f maps a 1-D torch tensor of samples to a tensor of the same shape and need not be
    differentiable.
    """
    with seeded(seed), torch_threads():
        eps = torch.randn(n_samples, dtype=torch.float64)
        with torch.no_grad():
            z = reparameterize(*_per_sample(mu, var, n_samples), eps)
            fz = _evaluate(f, z)
        # the score from ε, (ε/σ, (ε² - 1)/2): exact even where z - μ rounds to 0
        return _rows((fz - baseline) * eps / math.sqrt(var), (fz - baseline) * 0.5 * (eps**2 - 1))


@validate(
    f=function,
    mu=real_number,
    var=positive_real,
    n_samples=count(limit=SAMPLE_LIMIT),
    seed=seed_kind,
)
def pathwise_gradients(f, mu, var, n_samples, *, seed=0):
    r"""Single-sample pathwise estimates, shape (n_samples, 2): with
    :math:`z = \mu + e^{\frac12\log\sigma^2}\varepsilon`,

    .. math:: \Big(f'(z)\,\frac{\partial z}{\partial\mu},\
              f'(z)\,\frac{\partial z}{\partial\log\sigma^2}\Big)
              = \big(f'(z),\ f'(z)\,\tfrac12\sigma\varepsilon\big)

    by autograd through f, which must be differentiable in z and elementwise (sample i of its
    output depends on sample i of its input only)."""
    with seeded(seed), torch_threads():
        eps = torch.randn(n_samples, dtype=torch.float64)
        mus, logvars = _per_sample(mu, var, n_samples)
        fz = _evaluate(f, reparameterize(mus, logvars, eps))
        if not fz.requires_grad:
            raise ValueError("f must be differentiable in z: its output carries no gradient")
        return _rows(*torch.autograd.grad(fz.sum(), (mus, logvars)))


def _per_sample(mu, var, n_samples):
    """(μ, log σ²) repeated once per sample, each copy a leaf: autograd then returns every
    sample's own gradient."""
    mus = torch.full((n_samples,), mu, dtype=torch.float64, requires_grad=True)
    logvars = torch.full((n_samples,), math.log(var), dtype=torch.float64, requires_grad=True)
    return mus, logvars


def _evaluate(f, z):
    value = f(z.clone())  # f may change its argument in place
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(z.shape):
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(
            f"f must return a tensor of the samples' shape {tuple(z.shape)}, got {shape}"
        )
    if not bool(torch.isfinite(value).all()):
        raise ValueError("f returned NaN or inf")
    return value.to(torch.float64)


def _rows(d_mu, d_logvar):
    rows = torch.stack([d_mu, d_logvar], dim=1).detach().numpy()
    if not np.all(np.isfinite(rows)):
        raise ValueError("the gradient estimates are not finite: f overflows at these samples")
    return rows
