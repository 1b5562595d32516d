"""Input handling shared by every formula: one array namespace for numpy and torch, and checks
that turn bad input into a ``ValueError`` naming the argument."""

import math
from numbers import Integral, Real

import array_api_compat
import numpy as np

_ARRAY_TYPES = (Real, list, tuple, np.ndarray, np.generic)


def namespace(*args):
    """The array namespace of the inputs: torch's if any is a torch tensor (numpy arrays and
    numbers beside it are converted by :func:`as_float`), else numpy's."""
    tensors = [a for a in args if array_api_compat.is_torch_array(a)]
    return array_api_compat.array_namespace(tensors[0] if tensors else np.empty(0))


def as_float(xp, value, name):
    """``value`` as a floating array of namespace ``xp``; NaN is refused, and so is anything
    that is not a number, a list of numbers or an array (None, a string, …)."""
    is_tensor = array_api_compat.is_torch_array(value)
    if not (is_tensor or isinstance(value, _ARRAY_TYPES)) or isinstance(value, str):
        raise ValueError(f"{name} must be a number or an array, got {type(value).__name__}")
    if not is_tensor and array_api_compat.is_torch_namespace(xp):
        value = np.asarray(value) if isinstance(value, list | tuple) else value
        # numpy arrays keep their dtype; numbers take torch's default float, as torch does
        value = xp.asarray(value) if isinstance(value, Real) else xp.asarray(np.asarray(value))
    elif not is_tensor:
        try:
            value = xp.asarray(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number or an array of numbers") from None
    if xp.isdtype(value.dtype, ("bool", "integral")):
        value = xp.astype(value, xp.float64)
    elif not xp.isdtype(value.dtype, "real floating"):
        raise ValueError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if bool(xp.any(xp.isnan(value))):
        raise ValueError(f"{name} contains NaN")
    return value


def finite(xp, value, name):
    """``value`` as a floating array whose entries are all finite."""
    value = as_float(xp, value, name)
    if not bool(xp.all(xp.isfinite(value))):
        raise ValueError(f"{name} must be finite, got an entry of {_extreme(xp, value)!r}")
    return value


def positive(xp, value, name):
    """``value`` as a floating array whose entries are all positive and finite."""
    value = as_float(xp, value, name)
    if bool(xp.any(value <= 0)):
        raise ValueError(f"{name} must be positive, got a minimum of {float(xp.min(value))!r}")
    if bool(xp.any(xp.isinf(value))):
        raise ValueError(f"{name} must be finite")
    return value


def as_numpy(value, name, dtype=float, *, finite=True):
    """``value`` (a number, list, numpy array or torch tensor, with gradients or not) as a numpy
    array of ``dtype``; NaN is refused, and so is ±inf if ``finite``."""
    if array_api_compat.is_torch_array(value):
        value = value.detach().cpu().numpy()
    elif not isinstance(value, _ARRAY_TYPES) or isinstance(value, str):
        raise ValueError(f"{name} must be a number or an array, got {type(value).__name__}")
    try:
        value = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if np.any(np.isnan(value)):
        raise ValueError(f"{name} contains NaN")
    if finite and not np.all(np.isfinite(value)):
        raise ValueError(f"{name} contains inf: it must be finite")
    return value


def number(value, name, *, low=-math.inf, high=math.inf, strict=True):
    """``value`` as a float if it is a finite real number (a Python or numpy number, or a 0-d
    array; never a bool) above ``low`` (or equal to it when not ``strict``) and at most
    ``high``; else a ``ValueError`` naming ``name``."""
    if getattr(value, "ndim", None) == 0 and not isinstance(value, Real):
        value = value.item()
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    above = value > low if strict else value >= low
    if not (math.isfinite(value) and above and value <= high):
        if low == 0:
            wanted = "a positive finite number" if strict else "a non-negative finite number"
        elif low > -math.inf:
            wanted = f"a finite number {'above' if strict else 'at least'} {low:g}"
        else:
            wanted = "a finite number"
        if high < math.inf:
            wanted += f", at most {high:g}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value


def positive_number(value, name):
    """``value`` as a float if it is a positive finite number."""
    return number(value, name, low=0.0)


def non_negative_number(value, name):
    """``value`` as a float if it is a non-negative finite number."""
    return number(value, name, low=0.0, strict=False)


def positive_int(value, name):
    """``value`` if it is a positive integer (not a bool), else a ``ValueError`` naming
    ``name``."""
    return integer(value, name, low=1)


def integer(value, name, low=0):
    """``value`` as an int if it is an integer (not a bool) of at least ``low``; a seed, a
    number of steps. A float such as 1.5 is refused rather than truncated."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, Integral) or value < low:
        kind = "a positive integer" if low == 1 else f"an integer of at least {low}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
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
    """Return ``(var, log var)`` from exactly one of them; ``var`` is None when ``logvar`` was
    given, so that nothing divides by an exponential that underflows (see
    :func:`over_variance`)."""
    if (var is None) == (logvar is None):
        raise ValueError(f"pass exactly one of {name} and log{name}")
    if logvar is not None:
        logvar = as_float(xp, logvar, f"log{name}")
        if bool(xp.any(xp.isinf(logvar))):
            raise ValueError(f"log{name} must be finite")
        return None, logvar
    var = positive(xp, var, name)
    return var, xp.log(var)


def given(name, var):
    """The name of the argument the caller gave: ``name`` if ``var`` is not None, else
    ``"log" + name``."""
    return name if var is not None else f"log{name}"


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


def _extreme(xp, value):
    flat = xp.reshape(value, (-1,))
    return float(flat[xp.logical_not(xp.isfinite(flat))][0])


def check_finite(**values):
    """Raise a ``ValueError`` naming the first of ``values`` (numbers or arrays, numpy or torch)
    that is not made of finite numbers."""
    for name, value in values.items():
        as_numpy(value, name)
