r"""The Gaussian log-density: the building block of every log-weight, prior and posterior.

Elementwise and broadcasting, for numpy arrays or torch tensors (with gradients); sum over the
last axis for a diagonal Gaussian.
"""

import math

import numpy as np

from elbo_lib.validation import (
    array,
    broadcastable,
    given,
    namespace,
    optional,
    positive,
    validate,
    variance_or_logvar,
)
from elbo_lib.validation import logvar as logvar_kind

LOG_2PI = math.log(2 * math.pi)


@validate(x=array, mu=array, var=optional(positive), logvar=optional(logvar_kind))
def log_normal(x, mu=0.0, var=None, *, logvar=None):
    r""":math:`\log \mathcal N(x;\, \mu, v) = -\tfrac12\big[\log 2\pi + \log v
    + (x - \mu)^2/v\big]`, elementwise, v = ``var``. Give ``var`` or ``logvar`` (neither: the
    standard normal, v = 1)."""
    if var is None and logvar is None:
        var = 1.0
    xp = namespace(x, mu, var, logvar)
    var, logvar = variance_or_logvar(xp, var, logvar)
    broadcastable(x=x, mu=mu, **{given("var", var): logvar})
    return -0.5 * (LOG_2PI + logvar + over_variance(xp, x - mu, var, logvar))


def over_variance(xp, diff, var, logvar):
    r""":math:`d^2/\sigma^2`, exact for every variance the inputs can state: ``diff**2 / var``
    when the variance was given, else :math:`(d\, e^{-\frac12\log\sigma^2})^2`, which neither
    divides by an underflowed :math:`e^{\log\sigma^2}` nor multiplies 0 by an overflowed
    :math:`e^{-\log\sigma^2}` (it is 0 where d is, also in the gradient); below
    :data:`_TINY_LOGVAR`, where :math:`e^{-\frac12\log\sigma^2}` itself overflows, it is
    :math:`e^{2\log|d| - \log\sigma^2}`."""
    with np.errstate(over="ignore"):  # a quotient beyond the largest float is inf, correctly
        if var is not None:
            return diff**2 / var
        tiny = (logvar < _TINY_LOGVAR) & (diff != 0)
        zero = xp.zeros_like(logvar)
        direct = (diff * xp.exp(-0.5 * xp.where((diff == 0) | tiny, zero, logvar))) ** 2
        if not bool(xp.any(tiny)):
            return direct
        # each branch sees only inputs it can take, so neither puts NaN into the gradient
        d = xp.where(tiny, diff, xp.ones_like(diff))
        via_logs = xp.exp(2 * xp.log(xp.abs(d)) - xp.where(tiny, logvar, zero))
        return xp.where(tiny, via_logs, direct)


_TINY_LOGVAR = -1400.0  # e^{700} is finite, e^{710} is not
