"""Kullback–Leibler divergences between Gaussians, in nats.

Every function takes numpy arrays (returning numpy) or torch tensors (returning tensors that carry
gradients). Variances may instead be given as log-variances, the form a VAE encoder outputs.
"""

import numpy as np

from elbo_lib.densities import over_variance
from elbo_lib.validation import (
    array,
    broadcastable,
    covariance,
    finite,
    flag,
    given,
    namespace,
    optional,
    positive,
    validate,
    variance_or_logvar,
)
from elbo_lib.validation import logvar as logvar_kind


@validate(
    mu_q=array,
    var_q=optional(positive),
    mu_p=array,
    var_p=optional(positive),
    logvar_q=optional(logvar_kind),
    logvar_p=optional(logvar_kind),
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


def _standard_normal_shapes(values):
    mu, var, logvar = values["mu"], values["var"], values["logvar"]
    if (var is None) == (logvar is None):
        raise ValueError("pass exactly one of var and logvar")
    name, spread = ("var", var) if var is not None else ("logvar", logvar)
    if values["per_dimension"]:
        broadcastable(mu=mu, **{name: spread})
    elif mu.ndim == 0:
        raise ValueError("mu must have at least one axis: the latent dimensions are the last axis")
    elif tuple(mu.shape) != tuple(spread.shape):
        raise ValueError(
            f"mu has shape {tuple(mu.shape)} but {name} has shape {tuple(spread.shape)}"
        )


@validate(
    _standard_normal_shapes,
    mu=array,
    var=optional(positive),
    logvar=optional(logvar_kind),
    per_dimension=flag,
)
def kl_to_standard_normal(mu, var=None, *, logvar=None, per_dimension=False):
    r""":math:`\mathrm{KL}(\mathcal N(\mu, \mathrm{diag}\,s^2)\,\|\,\mathcal N(0, I))
    = \tfrac12 \sum_j (\mu_j^2 + s_j^2 - \log s_j^2 - 1)`, summed over the last axis.

    Give ``logvar`` instead of ``var`` to work in log-variances (as a VAE encoder does);
    ``per_dimension=True`` returns the KL of each unit, elementwise (arguments broadcast).
    """
    xp = namespace(mu, var, logvar)
    if logvar is None:
        logvar = xp.log(var)
    kl = 0.5 * (xp.expm1(logvar) - logvar + mu**2)
    return kl if per_dimension else xp.sum(kl, axis=-1)


@validate(mu_q=finite, cov_q=covariance, mu_p=finite, cov_p=covariance)
def kl_mvn(mu_q, cov_q, mu_p, cov_p):
    r"""KL between multivariate normals with full covariances:

    .. math:: \tfrac12\big[\mathrm{tr}(\Sigma_p^{-1}\Sigma_q) + (\mu_p-\mu_q)^\top\Sigma_p^{-1}
              (\mu_p-\mu_q) - k + \log\det\Sigma_p - \log\det\Sigma_q\big]

    Means have shape (..., k) and covariances (..., k, k); leading axes broadcast.
    """
    xp = namespace(mu_q, cov_q, mu_p, cov_p)
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
