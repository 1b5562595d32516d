r"""Checks that read as the claim they test. Each prints one sentence, "✓ <claim> (<evidence>)",
when the claim holds, and raises an ``AssertionError`` that says what failed when it does not.

The evidence printed is the tolerance met, never the measured round-off, so a notebook's output
is the same on every CPU.
"""

import math

import numpy as np

from elbo_lib.validation import (
    Kind,
    anything,
    as_numpy,
    broadcastable,
    count,
    non_negative,
    numpy_finite,
    positive_array,
    positive_real,
    text,
    validate,
)

positive_numbers = Kind("positive_numbers", lambda v, n, xp: positive_array(np, as_numpy(v, n), n))


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def _numbers(*names):
    """A relation: each of ``names`` is a real number or an array of them (NaN and ±inf are
    values, on which a claim fails), and their shapes broadcast."""

    def check(values):
        arrays = {}
        for name in names:
            try:
                arrays[name] = np.asarray(_numpy(values[name]))
            except (TypeError, ValueError):
                arrays[name] = np.asarray(None)
            if arrays[name].dtype.kind not in "biuf":
                raise ValueError(f"{name} must be a real number or an array of them")
        broadcastable(**arrays)

    return check


def _not_empty(*names):
    """A relation: the arrays ``names`` hold at least one entry (a claim about nothing fails)."""

    def check(values):
        for name in names:
            if np.size(_numpy(values[name])) == 0:
                raise ValueError(f"{name} is empty: a claim needs at least one value")

    return check


def _two_rows(values):
    if values["values"].ndim == 0 or len(values["values"]) < 2:
        raise ValueError(f"values needs at least two rows, got shape {values['values'].shape}")


@validate(_not_empty("condition"), claim=text, condition=anything, evidence=text)
def holds(claim, condition, evidence=""):
    """✓ ``claim`` if ``condition`` is true (every entry, for an array)."""
    as_numpy(condition, "condition", finite=False)
    suffix = f" ({evidence})" if evidence else ""
    if not bool(np.all(np.asarray(_numpy(condition)))):
        raise AssertionError(f"✗ {claim}: it does not hold{suffix}")
    print(f"✓ {claim}{suffix}")


@validate(
    _numbers("actual", "expected"),
    _not_empty("actual", "expected"),
    claim=text,
    actual=anything,
    expected=anything,
    tol=non_negative,
)
def close(claim, actual, expected, tol):
    r"""✓ ``claim`` if :math:`\max |a - e| \le` ``tol`` over every entry (absolute tolerance)."""
    difference = _largest_difference(actual, expected)
    if not difference <= tol:
        raise AssertionError(f"✗ {claim}: the largest difference is {difference:.3g}, over {tol:g}")
    print(f"✓ {claim} (to within {tol:g})")


@validate(claim=text, samples=numpy_finite, expected=numpy_finite, k=positive_real)
def within_standard_errors(claim, samples, expected, k=4.0):
    r"""✓ ``claim`` if the mean of the Monte Carlo ``samples`` (first axis) lies within ``k``
    standard errors :math:`\hat\sigma/\sqrt n` of ``expected``, entry by entry."""
    n = samples.shape[0] if samples.ndim else 0
    if n < 2:
        raise ValueError(f"samples must hold at least two draws, got {n}")
    if not np.all(samples.std(0) > 0):
        raise ValueError("samples have no spread: their standard error is 0")
    broadcastable(samples=samples[0], expected=expected)
    mean, standard_error = mean_and_standard_error(samples)
    z = np.abs(mean - np.asarray(_numpy(expected), dtype=float)) / standard_error
    if not bool(np.all(z <= k)):
        raise AssertionError(
            f"✗ {claim}: the mean is {float(np.max(z)):.1f} standard errors away, over {k:g}"
        )
    print(f"✓ {claim} (within {k:g} standard errors of {n} draws)")


@validate(_two_rows, values=numpy_finite)
def mean_and_standard_error(values):
    r"""Means over the first axis of ``values`` (e.g. single-sample estimates, one per row) and
    their standard errors :math:`s/\sqrt n`."""
    return values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(len(values))


@validate(_two_rows, values=numpy_finite)
def variance_and_standard_error(values):
    r"""Variances :math:`s^2` over the first axis of ``values`` and their standard errors
    :math:`\sqrt{(m_4 - s^4)/n}`, :math:`m_4` the fourth central moment (for a normal sample
    :math:`s^2\sqrt{2/n}`; larger for heavy tails)."""
    centred = values - values.mean(axis=0)
    scale = np.max(np.abs(centred), axis=0)  # moments of centred / scale cannot overflow
    scale = np.where(scale > 0, scale, 1.0)
    unit = centred / scale
    var, fourth = unit.var(axis=0, ddof=1), (unit**4).mean(axis=0)
    return var * scale**2, np.sqrt(np.maximum(fourth - var**2, 0.0) / len(values)) * scale**2


def _largest_difference(actual, expected):
    a, e = np.asarray(_numpy(actual), dtype=float), np.asarray(_numpy(expected), dtype=float)
    if np.any(np.isnan(a)) or np.any(np.isnan(e)):
        return math.nan
    return float(np.max(np.abs(a - e), initial=0.0))


@validate(
    _numbers("estimate", "expected"),
    _not_empty("estimate", "expected", "standard_error"),
    claim=text,
    estimate=anything,
    expected=anything,
    standard_error=positive_numbers,
    k=positive_real,
)
def near(claim, estimate, expected, standard_error, k=4.0):
    r"""✓ ``claim`` if each Monte Carlo ``estimate`` lies within ``k`` of its ``standard_error``
    of ``expected``: :math:`|\hat\theta - \theta| \le k\,\mathrm{se}`, entry by entry."""
    estimate, expected, standard_error = (
        np.asarray(_numpy(value), dtype=float) for value in (estimate, expected, standard_error)
    )
    broadcastable(estimate=estimate, expected=expected, standard_error=standard_error)
    z = float(np.max(np.abs(estimate - expected) / standard_error, initial=0.0))
    if not z <= k:
        raise AssertionError(f"✗ {claim}: an estimate is {z:.1f} standard errors away, over {k:g}")
    print(f"✓ {claim} (within {k:g} standard errors)")


ESTIMATE = r"≈ ?(?:\[[^\]]*\]|[-−]?\d[\d.]*)|[-−]?\d[\d.]* ± \d[\d.]*"
r"""How an estimate is printed: "≈ 18.21", "≈ [14, 12, 12]" (:func:`estimate`) or "mean ± spread".
Training and Monte Carlo set its last digits, which differ between CPUs (the order of
floating-point sums in vectorised kernels), so nbval compares the text around it and the checks,
not the digits: ``conftest.py`` replaces each match by "≈ …" in both outputs it compares."""


@validate(_numbers("value"), value=anything, digits=count(0, 17))
def estimate(value, digits=2):
    """``value`` (a number or an array) as an estimate, "≈ 18.21" or "≈ [0.3, 0.5, 1.0]", rounded
    to ``digits`` decimals; see :data:`ESTIMATE`."""
    array = np.asarray(_numpy(value), dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"value must be finite, got {array}")
    if array.ndim == 0:
        return f"≈ {float(array):.{digits}f}"
    return "≈ [" + ", ".join(f"{v:.{digits}f}" for v in array.ravel()) + "]"
