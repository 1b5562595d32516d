"""Kullback–Leibler divergences between Gaussians, in nats.

Every function takes numpy arrays (returning numpy) or torch tensors (returning tensors that carry
gradients). Variances may instead be given as log-variances, the form a VAE encoder outputs.
"""

import numpy as np

from elbo_lib._arrays import (
    as_float,
    broadcastable,
    finite,
    given,
    namespace,
    over_variance,
    variance_or_logvar,
)


def kl_normal(mu_q, var_q=None, mu_p=0.0, var_p=None, *, logvar_q=None, logvar_p=None):
    r"""Elementwise
    :math:`\mathrm{KL}(\mathcal N(\mu_q, s_q^2)\,\|\,\mathcal N(\mu_p, s_p^2))`:

    .. math:: \tfrac12\Big[\log\frac{s_p^2}{s_q^2}
              + \frac{s_q^2 + (\mu_q-\mu_p)^2}{s_p^2} - 1\Big]

    Arguments broadcast against each other. Give ``logvar_q``/``logvar_p`` instead of
    ``var_q``/``var_p`` to work in log-variances; neither ``var_p`` nor ``logvar_p`` means
    :math:`s_p^2 = 1`, the standard-normal prior.
    """
    if var_p is None and logvar_p is None:
        var_p = 1.0
    xp = namespace(mu_q, var_q, mu_p, var_p, logvar_q, logvar_p)
    mu_q, mu_p = as_float(xp, mu_q, "mu_q"), as_float(xp, mu_p, "mu_p")
    var_q, logvar_q = variance_or_logvar(xp, var_q, logvar_q, "var_q")
    var_p, logvar_p = variance_or_logvar(xp, var_p, logvar_p, "var_p")
    broadcastable(
        mu_q=mu_q,
        mu_p=mu_p,
        **{given("var_q", var_q): logvar_q, given("var_p", var_p): logvar_p},
    )
    log_ratio = logvar_q - logvar_p
    with np.errstate(over="ignore"):  # a KL beyond the largest float is inf, correctly
        spread = xp.expm1(log_ratio) - log_ratio
    return 0.5 * (spread + over_variance(xp, mu_q - mu_p, var_p, logvar_p))


def kl_to_standard_normal(mu, var=None, *, logvar=None):
    r""":math:`\mathrm{KL}(\mathcal N(\mu, \mathrm{diag}\,s^2)\,\|\,\mathcal N(0, I))
    = \tfrac12 \sum_j (\mu_j^2 + s_j^2 - \log s_j^2 - 1)`, summed over the last axis.

    Give ``logvar`` instead of ``var`` to work in log-variances (as a VAE encoder does).
    """
    xp = namespace(mu, var, logvar)
    mu = as_float(xp, mu, "mu")
    var, logvar = variance_or_logvar(xp, var, logvar)
    if mu.ndim == 0:
        raise ValueError("mu must have at least one axis: the latent dimensions are the last axis")
    if tuple(mu.shape) != tuple(logvar.shape):
        shape, name = tuple(logvar.shape), given("var", var)
        raise ValueError(f"mu has shape {tuple(mu.shape)} but {name} has shape {shape}")
    return xp.sum(_unit_kl(xp, mu, logvar), axis=-1)


def _unit_kl(xp, mu, logvar):
    r""":math:`\tfrac12(s^2 - 1 - \log s^2 + \mu^2)`, :math:`s^2 = e^{\log s^2}`:
    the KL of each latent unit to :math:`\mathcal N(0, 1)`, elementwise, in namespace ``xp``.
    Unchecked: for arrays already checked, or for a model's own outputs in a training step, whose
    loss is checked."""
    return 0.5 * (xp.expm1(logvar) - logvar + mu**2)


def kl_mvn(mu_q, cov_q, mu_p, cov_p):
    r"""KL between multivariate normals with full covariances:

    .. math:: \tfrac12\big[\mathrm{tr}(\Sigma_p^{-1}\Sigma_q) + (\mu_p-\mu_q)^\top\Sigma_p^{-1}
              (\mu_p-\mu_q) - k + \log\det\Sigma_p - \log\det\Sigma_q\big]

    Means have shape (..., k) and covariances (..., k, k); leading axes broadcast.
    """
    xp = namespace(mu_q, cov_q, mu_p, cov_p)
    mu_q, mu_p = finite(xp, mu_q, "mu_q"), finite(xp, mu_p, "mu_p")
    cov_q, cov_p = _covariance(xp, cov_q, "cov_q"), _covariance(xp, cov_p, "cov_p")
    for mu, cov, name in ((mu_q, cov_q, "q"), (mu_p, cov_p, "p")):
        if mu.ndim == 0 or mu.shape[-1] != cov.shape[-1]:
            raise ValueError(
                f"mu_{name} has shape {tuple(mu.shape)} but cov_{name} has shape "
                f"{tuple(cov.shape)}: the last axis of the mean must match the covariance"
            )
    if cov_q.shape[-1] != cov_p.shape[-1]:
        raise ValueError(f"cov_q is {cov_q.shape[-1]}-dimensional but cov_p is {cov_p.shape[-1]}")
    k = cov_q.shape[-1]
    diff = (mu_p - mu_q)[..., None]
    trace = xp.sum(xp.linalg.diagonal(xp.linalg.solve(cov_p, cov_q)), axis=-1)
    mahalanobis = xp.sum(diff * xp.linalg.solve(cov_p, diff), axis=(-2, -1))
    logdet_p, logdet_q = xp.linalg.slogdet(cov_p)[1], xp.linalg.slogdet(cov_q)[1]
    return 0.5 * (trace + mahalanobis - k + logdet_p - logdet_q)


def _covariance(xp, cov, name):
    cov = finite(xp, cov, name)
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(
            f"{name} must be a square matrix (..., k, k), got shape {tuple(cov.shape)}"
        )
    asymmetry = xp.max(xp.abs(cov - xp.matrix_transpose(cov)))
    if bool(asymmetry > 1e-8 * xp.max(xp.abs(cov))):
        raise ValueError(f"{name} must be symmetric")
    if bool(xp.any(xp.linalg.eigvalsh(cov) <= 0)):
        raise ValueError(f"{name} must be positive definite")
    return cov
