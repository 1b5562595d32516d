"""Input handling shared by every formula: one array namespace for numpy and torch, and checks
that turn bad input into a ``ValueError`` naming the argument."""

from numbers import Real

import array_api_compat
import numpy as np


def namespace(*args):
    """The array namespace of the inputs (numpy for Python numbers, torch for tensors)."""
    arrays = [a for a in args if a is not None and not isinstance(a, Real | list | tuple)]
    return array_api_compat.array_namespace(*arrays if arrays else [np.empty(0)])


def as_float(xp, value, name):
    """``value`` as a floating array of namespace ``xp``; NaN is refused."""
    if isinstance(value, Real | list | tuple):
        value = xp.asarray(value)  # the namespace's default float: float32 beside torch tensors
    if not xp.isdtype(value.dtype, "real floating"):
        value = xp.astype(value, xp.float64)
    if bool(xp.any(xp.isnan(value))):
        raise ValueError(f"{name} contains NaN")
    return value


def positive(xp, value, name):
    """``value`` as a floating array whose entries are all positive and finite."""
    value = as_float(xp, value, name)
    if bool(xp.any(value <= 0)):
        raise ValueError(f"{name} must be positive, got a minimum of {float(xp.min(value))!r}")
    if bool(xp.any(xp.isinf(value))):
        raise ValueError(f"{name} must be finite")
    return value


def positive_int(value, name):
    """``value`` if it is a positive integer, else a ``ValueError`` naming ``name``."""
    if not (isinstance(value, int | np.integer) and value > 0):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def broadcastable(**arrays):
    """Raise a ``ValueError`` naming the arguments whose shapes do not broadcast."""
    shapes = {name: tuple(getattr(a, "shape", ())) for name, a in arrays.items()}
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes do not broadcast: {described}") from None


def variance_or_logvar(xp, var, logvar, name="var"):
    """Return ``(var, log var)`` from exactly one of them; the log form stays exact for tiny
    or huge variances."""
    if (var is None) == (logvar is None):
        raise ValueError(f"pass exactly one of {name} and log{name}")
    if logvar is not None:
        logvar = as_float(xp, logvar, f"log{name}")
        if bool(xp.any(xp.isinf(logvar))):
            raise ValueError(f"log{name} must be finite")
        return xp.exp(logvar), logvar
    var = positive(xp, var, name)
    return var, xp.log(var)
