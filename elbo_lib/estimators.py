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
from numbers import Real

import numpy as np
import torch

from elbo_lib._arrays import as_float, positive, positive_int
from elbo_lib._torch import seeded, torch_threads
from elbo_lib.densities import log_normal
from elbo_lib.vae import reparameterize


def score_function_gradients(f, mu, var, n_samples, *, baseline=0.0, seed=0):
    r"""Single-sample score-function estimates, shape (n_samples, 2), for
    :math:`z \sim \mathcal N(\mu, \sigma^2)`:

    .. math:: \big(f(z) - b\big)\, \nabla_{(\mu, \log\sigma^2)} \log \mathcal N(z;\, \mu, \sigma^2)
              = \big(f(z) - b\big) \Big(\frac{z - \mu}{\sigma^2},\
              \tfrac12\Big[\frac{(z - \mu)^2}{\sigma^2} - 1\Big]\Big)

    f maps a 1-D torch tensor of samples to a tensor of the same shape and need not be
    differentiable; the score comes from autograd through :func:`log_normal`.
    """
    mu, var, n_samples, seed = _parameters(f, mu, var, n_samples, seed)
    baseline = _finite_number(baseline, "baseline")
    with seeded(seed), torch_threads():
        eps = torch.randn(n_samples, dtype=torch.float64)
        mus, logvars = _per_sample(mu, var, n_samples)
        z = reparameterize(mus, logvars, eps).detach()  # a plain draw: no gradient through z
        with torch.no_grad():
            fz = _evaluate(f, z)
        log_q = log_normal(z, mus, logvar=logvars)
        grads = torch.autograd.grad(log_q.sum(), (mus, logvars))
        return _rows((fz - baseline) * grads[0], (fz - baseline) * grads[1])


def pathwise_gradients(f, mu, var, n_samples, *, seed=0):
    r"""Single-sample pathwise estimates, shape (n_samples, 2): with
    :math:`z = \mu + e^{\frac12\log\sigma^2}\varepsilon`,

    .. math:: \Big(f'(z)\,\frac{\partial z}{\partial\mu},\
              f'(z)\,\frac{\partial z}{\partial\log\sigma^2}\Big)
              = \big(f'(z),\ f'(z)\,\tfrac12\sigma\varepsilon\big)

    by autograd through f, which must be differentiable in z and elementwise (sample i of its
    output depends on sample i of its input only)."""
    mu, var, n_samples, seed = _parameters(f, mu, var, n_samples, seed)
    with seeded(seed), torch_threads():
        eps = torch.randn(n_samples, dtype=torch.float64)
        mus, logvars = _per_sample(mu, var, n_samples)
        fz = _evaluate(f, reparameterize(mus, logvars, eps))
        if not fz.requires_grad:
            raise ValueError("f must be differentiable in z: its output carries no gradient")
        return _rows(*torch.autograd.grad(fz.sum(), (mus, logvars)))


def _parameters(f, mu, var, n_samples, seed):
    if not callable(f):
        raise ValueError(f"f must be a function of the samples, got {f!r}")
    mu = _finite_number(mu, "mu")
    var = positive(np, _scalar(var, "var"), "var")
    positive_int(n_samples, "n_samples")
    if isinstance(seed, bool) or not (isinstance(seed, int | np.integer) and seed >= 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return mu, float(var), int(n_samples), int(seed)


def _scalar(value, name):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, bool) or not isinstance(value, Real | np.ndarray | np.generic):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
    return np.float64(value)


def _finite_number(value, name):
    value = as_float(np, _scalar(value, name), name)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {float(value)!r}")
    return float(value)


def _per_sample(mu, var, n_samples):
    """(μ, log σ²) repeated once per sample, each copy a leaf: autograd then returns every
    sample's own gradient."""
    mus = torch.full((n_samples,), mu, dtype=torch.float64, requires_grad=True)
    logvars = torch.full((n_samples,), math.log(var), dtype=torch.float64, requires_grad=True)
    return mus, logvars


def _evaluate(f, z):
    value = f(z)
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
