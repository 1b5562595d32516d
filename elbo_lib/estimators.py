r"""Monte Carlo estimators of :math:`\nabla_\phi\, \mathbb E_{q_\phi}[f(z)]` for a Gaussian
:math:`q_\phi = \mathcal N(\mu, s^2)`, :math:`\phi = (\mu, \log s^2)`.

* score function (REINFORCE, likelihood ratio):
  :math:`\nabla_\phi \mathbb E_q[f] = \mathbb E_q\big[(f(z) - b)\, \nabla_\phi \log q_\phi(z)\big]`
  for any constant baseline b, one per component of φ if wished; the variance-optimal one is
  :math:`b_k^* = \mathbb E_q[f\,(\partial_k \log q)^2] / \mathbb E_q[(\partial_k \log q)^2]`
  (:func:`optimal_baseline`);
* pathwise (reparameterised): :math:`z = \mu + s\varepsilon` with
  :math:`\varepsilon \sim \mathcal N(0, 1)`, so :math:`\nabla_\phi \mathbb E_q[f]
  = \mathbb E_\varepsilon\big[f'(z)\, \partial z/\partial\phi\big]`.

Both return one row of :math:`(\partial/\partial\mu,\ \partial/\partial\log s^2)` per sample:
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
    :math:`z \sim \mathcal N(\mu, s^2)`:

    .. math:: \big(f(z) - b\big)\, \nabla_{(\mu, \log s^2)} \log \mathcal N(z;\, \mu, s^2)
              = \big(f(z) - b\big) \Big(\frac{z - \mu}{s^2},\
              \tfrac12\Big[\frac{(z - \mu)^2}{s^2} - 1\Big]\Big)

    f maps a 1-D torch tensor of samples to a tensor of the same shape and need not be
    differentiable; the score comes from autograd through :func:`log_normal`. ``baseline`` is
    one number b, or a pair :math:`(b_\mu, b_{\log s^2})`, one per component.
    """
    mu, var, n_samples, seed = _parameters(f, mu, var, n_samples, seed)
    baseline = _baseline(baseline)
    with seeded(seed), torch_threads():
        eps = torch.randn(n_samples, dtype=torch.float64)
        mus, logvars = _per_sample(mu, var, n_samples)
        z = reparameterize(mus, logvars, eps).detach()  # a plain draw: no gradient through z
        with torch.no_grad():
            fz = _evaluate(f, z)
        log_q = log_normal(z, mus, logvar=logvars)
        grads = torch.autograd.grad(log_q.sum(), (mus, logvars))
        return _rows((fz - baseline[0]) * grads[0], (fz - baseline[1]) * grads[1])


def pathwise_gradients(f, mu, var, n_samples, *, seed=0):
    r"""Single-sample pathwise estimates, shape (n_samples, 2): with
    :math:`z = \mu + e^{\frac12\log s^2}\varepsilon`,

    .. math:: \Big(f'(z)\,\frac{\partial z}{\partial\mu},\
              f'(z)\,\frac{\partial z}{\partial\log s^2}\Big)
              = \big(f'(z),\ f'(z)\,\tfrac12 s\varepsilon\big)

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


def optimal_baseline(f, mu, var, n_samples, *, seed=0):
    r"""Monte Carlo estimate, from ``n_samples`` draws of :math:`z \sim \mathcal N(\mu, s^2)`, of
    the variance-optimal baseline of the score-function estimator, one per component k of
    :math:`\phi = (\mu, \log s^2)`:

    .. math:: b_k^* = \frac{\mathbb E_q\big[f(z)\,(\partial_k \log q_\phi(z))^2\big]}
              {\mathbb E_q\big[(\partial_k \log q_\phi(z))^2\big]}

    the zero of the derivative in b of the estimator's variance
    :math:`\mathbb E_q[(f - b)^2 (\partial_k \log q)^2] - (\partial_k \mathbb E_q[f])^2`.
    Returns the pair :math:`(b^*_\mu, b^*_{\log s^2})` for ``score_function_gradients``'s
    ``baseline``; draw it with a seed of its own (a b computed from the estimate's own samples
    biases the estimate)."""
    scores = score_function_gradients(torch.ones_like, mu, var, n_samples, seed=seed)
    weighted = score_function_gradients(f, mu, var, n_samples, seed=seed)  # f(z) times the score
    return (weighted * scores).sum(axis=0) / (scores**2).sum(axis=0)


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


def _baseline(baseline):
    """The baseline as a pair (b_μ, b_log s²): one number is used for both components."""
    if np.ndim(baseline) == 0:
        return (_finite_number(baseline, "baseline"),) * 2
    if np.shape(baseline) != (2,):
        raise ValueError(
            f"baseline must be a number or a pair (b_mu, b_logvar), got shape {np.shape(baseline)}"
        )
    return tuple(_finite_number(b, "baseline") for b in baseline)


def _per_sample(mu, var, n_samples):
    """(μ, log s²) repeated once per sample, each copy a leaf: autograd then returns every
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
