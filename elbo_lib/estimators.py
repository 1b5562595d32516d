r"""Monte Carlo estimators of :math:`\nabla_\phi\, \mathbb E_{q_\phi}[f(z)]` for a Gaussian
:math:`q_\phi = \mathcal N(\mu, s^2)`, :math:`\phi = (\mu, \log s^2)`.

* score function (REINFORCE, likelihood ratio):
  :math:`\nabla_\phi \mathbb E_q[f] = \mathbb E_q\big[(f(z) - b)\, \nabla_\phi \log q_\phi(z)\big]`
  for any constant baseline b, one per component of φ if wished; the variance-optimal one is
  :math:`b_k^* = \mathbb E_q[f\,(\partial_k \log q)^2] / \mathbb E_q[(\partial_k \log q)^2]`
  (:func:`optimal_baseline`);
* pathwise (reparameterised, :func:`reparameterize`): :math:`z = \mu + s\varepsilon` with
  :math:`\varepsilon \sim \mathcal N(0, 1)`, so :math:`\nabla_\phi \mathbb E_q[f]
  = \mathbb E_\varepsilon\big[f'(z)\, \partial z/\partial\phi\big]`.

Both return one row of :math:`(\partial/\partial\mu,\ \partial/\partial\log s^2)` per sample:
their mean is the estimate, their spread the estimator's variance.
"""

import math

import numpy as np
import torch

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.validation import (
    Kind,
    count,
    finite,
    function,
    namespace,
    positive_real,
    real_number,
    validate,
)
from elbo_lib.validation import seed as seed_kind

SAMPLE_LIMIT = 10**7  # n_samples: 16 bytes each, twice


def _baseline(value, name, xp):
    """One number b for both components, or a pair (b_μ, b_log s²), as a pair of floats."""
    if isinstance(value, list | tuple) or getattr(value, "ndim", 0) == 1:
        entries = value.tolist() if hasattr(value, "tolist") else list(value)
        if len(entries) != 2:
            raise ValueError(
                f"{name} must be a number or a pair (b_mu, b_logvar), got {len(entries)} entries"
            )
        return tuple(real_number(b, name) for b in entries)
    return (real_number(value, name),) * 2


baseline_kind = Kind("baseline", _baseline)


_GAUSSIAN_DRAWS = {  # what the estimators of d/d(mu, log s^2) E[f(z)], z ~ N(mu, s^2), take
    "f": function,
    "mu": real_number,
    "var": positive_real,
    "n_samples": count(limit=SAMPLE_LIMIT),
    "seed": seed_kind,
}


@validate(mu=finite, logvar=finite, eps=finite)
def reparameterize(mu, logvar, eps):
    r""":math:`z = \mu + s \odot \varepsilon` with :math:`s = e^{\frac12\log s^2}`:
    a draw from :math:`\mathcal N(\mu, \mathrm{diag}\,s^2)` that is differentiable in
    (μ, log s²) for a fixed standard-normal ``eps`` (leading sample axes broadcast)."""
    return mu + namespace(mu, logvar, eps).exp(0.5 * logvar) * eps


@validate(**_GAUSSIAN_DRAWS, baseline=baseline_kind)
def score_function_gradients(f, mu, var, n_samples, *, baseline=0.0, seed=0):
    r"""Single-sample score-function estimates, shape (n_samples, 2), for
    :math:`z \sim \mathcal N(\mu, s^2)`:

    .. math:: \big(f(z) - b\big)\, \nabla_{(\mu, \log s^2)} \log \mathcal N(z;\, \mu, s^2)
              = \big(f(z) - b\big) \Big(\frac{z - \mu}{s^2},\
              \tfrac12\Big[\frac{(z - \mu)^2}{s^2} - 1\Big]\Big)

    f maps a 1-D torch tensor of samples to a tensor of the same shape and need not be
    differentiable. ``baseline`` is one number b, or a pair :math:`(b_\mu, b_{\log s^2})`, one
    per component.
    """
    with seeded(seed), torch_threads():
        eps = torch.randn(n_samples, dtype=torch.float64)
        with torch.no_grad():
            z = reparameterize(*_per_sample(mu, var, n_samples), eps)
            fz = _evaluate(f, z)
        # the score from ε, (ε/s, (ε² - 1)/2): exact even where z - μ rounds to 0
        b_mu, b_logvar = baseline
        return _rows((fz - b_mu) * eps / math.sqrt(var), (fz - b_logvar) * 0.5 * (eps**2 - 1))


@validate(**_GAUSSIAN_DRAWS)
def pathwise_gradients(f, mu, var, n_samples, *, seed=0):
    r"""Single-sample pathwise estimates, shape (n_samples, 2): with
    :math:`z = \mu + e^{\frac12\log s^2}\varepsilon`,

    .. math:: \Big(f'(z)\,\frac{\partial z}{\partial\mu},\
              f'(z)\,\frac{\partial z}{\partial\log s^2}\Big)
              = \big(f'(z),\ f'(z)\,\tfrac12 s\varepsilon\big)

    by autograd through f, which must be differentiable in z and elementwise (sample i of its
    output depends on sample i of its input only)."""
    with seeded(seed), torch_threads():
        eps = torch.randn(n_samples, dtype=torch.float64)
        mus, logvars = _per_sample(mu, var, n_samples)
        fz = _evaluate(f, reparameterize(mus, logvars, eps))
        if not fz.requires_grad:
            raise ValueError("f must be differentiable in z: its output carries no gradient")
        return _rows(*torch.autograd.grad(fz.sum(), (mus, logvars)))


@validate(**_GAUSSIAN_DRAWS)
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


def _per_sample(mu, var, n_samples):
    """(μ, log s²) repeated once per sample, each copy a leaf: autograd then returns every
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
