r"""The Gaussian log-density: the building block of every log-weight, prior and posterior.

Elementwise and broadcasting, for numpy arrays or torch tensors (with gradients); sum over the
last axis for a diagonal Gaussian.
"""

import math

from elbo_lib._arrays import (
    as_float,
    broadcastable,
    given,
    namespace,
    over_variance,
    variance_or_logvar,
)

LOG_2PI = math.log(2 * math.pi)


def log_normal(x, mu=0.0, var=None, *, logvar=None):
    r""":math:`\log \mathcal N(x;\, \mu, v) = -\tfrac12\big[\log 2\pi + \log v
    + (x - \mu)^2/v\big]`, elementwise, v = ``var``. Give ``var`` or ``logvar`` (neither: the
    standard normal, v = 1)."""
    if var is None and logvar is None:
        var = 1.0
    xp = namespace(x, mu, var, logvar)
    x, mu = as_float(xp, x, "x"), as_float(xp, mu, "mu")
    var, logvar = variance_or_logvar(xp, var, logvar)
    broadcastable(x=x, mu=mu, **{given("var", var): logvar})
    return -0.5 * (LOG_2PI + logvar + over_variance(xp, x - mu, var, logvar))
