r"""Checks that read as the claim they test. Each prints one sentence, "✓ <claim> (<evidence>)",
when the claim holds, and raises an ``AssertionError`` that says what failed when it does not.

The evidence printed is the tolerance met, never the measured round-off, so a notebook's output
is the same on every CPU.
"""

import math

import numpy as np

from elbo_lib.validation import (
    as_numpy,
    broadcastable,
    integer,
    non_negative_number,
    positive_array,
    positive_number,
)


def holds(claim, condition, evidence=""):
    """✓ ``claim`` if ``condition`` is true (every entry, for an array)."""
    _claim(claim)
    as_numpy(condition, "condition", finite=False)
    suffix = f" ({evidence})" if evidence else ""
    if not bool(np.all(np.asarray(_numpy(condition)))):
        raise AssertionError(f"✗ {claim}: it does not hold{suffix}")
    print(f"✓ {claim}{suffix}")


def close(claim, actual, expected, tol):
    r"""✓ ``claim`` if :math:`\max |a - e| \le` ``tol`` over every entry (absolute tolerance)."""
    _claim(claim)
    tol = non_negative_number(tol, "tol")
    _numbers(actual=actual, expected=expected)
    difference = _largest_difference(actual, expected)
    if not difference <= tol:
        raise AssertionError(f"✗ {claim}: the largest difference is {difference:.3g}, over {tol:g}")
    print(f"✓ {claim} (to within {tol:g})")


def within_standard_errors(claim, samples, expected, k=4.0):
    r"""✓ ``claim`` if the mean of the Monte Carlo ``samples`` (first axis) lies within ``k``
    standard errors :math:`\hat\sigma/\sqrt n` of ``expected``, entry by entry."""
    _claim(claim)
    samples = as_numpy(samples, "samples")
    k = positive_number(k, "k")
    n = samples.shape[0] if samples.ndim else 0
    if n < 2:
        raise ValueError(f"samples must hold at least two draws, got {n}")
    if not np.all(samples.std(0) > 0):
        raise ValueError("samples have no spread: their standard error is 0")
    broadcastable(samples=samples[0], expected=as_numpy(expected, "expected"))
    mean, standard_error = mean_and_standard_error(samples)
    z = np.abs(mean - np.asarray(_numpy(expected), dtype=float)) / standard_error
    if not bool(np.all(z <= k)):
        raise AssertionError(
            f"✗ {claim}: the mean is {float(np.max(z)):.1f} standard errors away, over {k:g}"
        )
    print(f"✓ {claim} (within {k:g} standard errors of {n} draws)")


def mean_and_standard_error(values):
    r"""Means over the first axis of ``values`` (e.g. single-sample estimates, one per row) and
    their standard errors :math:`s/\sqrt n`."""
    values = _sample(values)
    return values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(len(values))


def variance_and_standard_error(values):
    r"""Variances :math:`s^2` over the first axis of ``values`` and their standard errors
    :math:`\sqrt{(m_4 - s^4)/n}`, :math:`m_4` the fourth central moment (for a normal sample
    :math:`s^2\sqrt{2/n}`; larger for heavy tails)."""
    values = _sample(values)
    centred = values - values.mean(axis=0)
    var = values.var(axis=0, ddof=1)
    fourth = (centred**4).mean(axis=0)
    return var, np.sqrt(np.maximum(fourth - var**2, 0.0) / len(values))


def _sample(values):
    values = as_numpy(values, "values")
    if values.ndim == 0 or len(values) < 2:
        raise ValueError(f"values needs at least two rows, got shape {values.shape}")
    return values


def _largest_difference(actual, expected):
    a, e = np.asarray(_numpy(actual), dtype=float), np.asarray(_numpy(expected), dtype=float)
    if np.any(np.isnan(a)) or np.any(np.isnan(e)):
        return math.nan
    return float(np.max(np.abs(a - e), initial=0.0))


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def near(claim, estimate, expected, standard_error, k=4.0):
    r"""✓ ``claim`` if each Monte Carlo ``estimate`` lies within ``k`` of its ``standard_error``
    of ``expected``: :math:`|\hat\theta - \theta| \le k\,\mathrm{se}`, entry by entry."""
    _claim(claim)
    _numbers(estimate=estimate, expected=expected)
    positive_array(np, as_numpy(standard_error, "standard_error"), "standard_error")
    k = positive_number(k, "k")
    estimate, expected, standard_error = (
        np.asarray(_numpy(value), dtype=float) for value in (estimate, expected, standard_error)
    )
    broadcastable(estimate=estimate, expected=expected, standard_error=standard_error)
    z = float(np.max(np.abs(estimate - expected) / standard_error, initial=0.0))
    if not z <= k:
        raise AssertionError(f"✗ {claim}: an estimate is {z:.1f} standard errors away, over {k:g}")
    print(f"✓ {claim} (within {k:g} standard errors)")


def jensen_gap_standard_error(log_y):
    r"""The standard error of the Jensen-gap estimate :math:`\log \bar Y - \overline{\log Y}` from
    n draws of log Y, by the delta method: :math:`\mathrm{sd}(Y_i / \bar Y - \log Y_i)/\sqrt n`.
    For a log-normal :math:`Y = e^{-\tau^2/2 + \tau\varepsilon}` it tends to
    :math:`\sqrt{(e^{\tau^2} - 1 - \tau^2)/n}`."""
    log_y = as_numpy(log_y, "log_y", finite=False)
    if log_y.ndim != 1 or log_y.size < 2 or not np.all(np.isfinite(log_y)):
        raise ValueError(f"log_y must be a 1-D array of at least two finite draws, got {log_y!r}")
    shifted = log_y - log_y.max()
    ratio = np.exp(shifted - np.log(np.mean(np.exp(shifted))))  # Y_i / mean Y, without overflow
    return float(np.std(ratio - log_y, ddof=1) / math.sqrt(log_y.size))


ESTIMATE = r"≈ ?(?:\[[^\]]*\]|[-−]?\d[\d.]*)|[-−]?\d[\d.]* ± \d[\d.]*"
r"""How an estimate is printed: "≈ 18.21", "≈ [14, 12, 12]" (:func:`estimate`) or "mean ± spread".
Training and Monte Carlo set its last digits, which differ between CPUs (the order of
floating-point sums in vectorised kernels), so nbval compares the text around it and the checks,
not the digits: ``conftest.py`` replaces each match by "≈ …" in both outputs it compares."""


def estimate(value, digits=2):
    """``value`` (a number or an array) as an estimate, "≈ 18.21" or "≈ [0.3, 0.5, 1.0]", rounded
    to ``digits`` decimals; see :data:`ESTIMATE`."""
    digits = integer(digits, "digits")
    _numbers(value=value)
    array = np.asarray(_numpy(value), dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"value must be finite, got {array}")
    if array.ndim == 0:
        return f"≈ {float(array):.{digits}f}"
    return "≈ [" + ", ".join(f"{v:.{digits}f}" for v in array.ravel()) + "]"


def _claim(claim):
    if not isinstance(claim, str):
        raise ValueError(f"claim must be a string, got {claim!r}")


def _numbers(**arrays):
    """Raise a ValueError naming the first argument that is not a real number or an array of them
    (NaN and ±inf are values, on which a claim fails), or the arguments whose shapes do not
    broadcast."""
    for name, value in arrays.items():
        if np.asarray(_numpy(value)).dtype.kind not in "biuf":
            raise ValueError(f"{name} must be a real number or an array of them, got {value!r}")
    broadcastable(**{name: np.asarray(_numpy(value)) for name, value in arrays.items()})
