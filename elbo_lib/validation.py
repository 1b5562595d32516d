r"""Input validation: each public callable declares the kind of each of its parameters once,
at its head, and bad input becomes a ``ValueError`` that names the argument the caller gave.

    from elbo_lib.validation import count, finite, positive, seed, validate

    @validate(x=finite, s2=positive, n=count(limit=10**6), seed=seed)
    def f(x, s2, n, seed=0):
        ...  # x and s2 arrive as float arrays of one namespace, n and seed as ints

A kind checks one value and returns it in the form the body computes with: arrays as floating
arrays of the call's namespace (torch if any array argument is a tensor, else numpy), scalars as
``float`` or ``int`` (numpy numbers, 0-d arrays and 0-d tensors are scalars too). Counts are
bounded, so that no count allocates or loops without end. Relations between arguments (shapes
that must match) are functions of the checked arguments, passed positionally to
:func:`validate`. ``tests/test_validation.py`` derives hostile inputs from every declaration;
it fails for a public callable without a declaration or without a valid call in its
``BASELINES``.

Hot code that calls public functions on values it has already checked (a training step, an
ascent path behind a slider) runs them inside ``with skip_validation():``, where the
declarations are not applied: each formula has one name, checked or not.
"""

import functools
import inspect
import math
import sys
import types
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import array_api_compat
import numpy as np

_ARRAY_TYPES = (Real, list, tuple, np.ndarray, np.generic)


def namespace(*args):
    """The array namespace of the inputs: torch's if any is a torch tensor (numpy arrays and
    numbers beside it are converted by :func:`as_float`), else numpy's."""
    torch = sys.modules.get("torch")  # no tensor can exist before torch is imported
    return _namespace(torch is not None and any(isinstance(a, torch.Tensor) for a in args))


@functools.cache
def _namespace(torch):
    if torch:
        import torch

        return array_api_compat.array_namespace(torch.empty(0))
    return array_api_compat.array_namespace(np.empty(0))


def as_float(xp, value, name):
    """``value`` as a floating array of namespace ``xp``; NaN is refused, and so is anything
    that is not a number, a list of numbers or an array (None, a string, …)."""
    is_tensor = array_api_compat.is_torch_array(value)
    if not (is_tensor or isinstance(value, _ARRAY_TYPES)) or isinstance(value, str):
        raise ValueError(f"{name} must be a number or an array, got {type(value).__name__}")
    if not is_tensor and array_api_compat.is_torch_namespace(xp):
        try:
            value = np.asarray(value) if isinstance(value, list | tuple) else value
            # numpy arrays keep their dtype; numbers take torch's default float, as torch does
            value = xp.asarray(value) if isinstance(value, Real) else xp.asarray(np.asarray(value))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number or an array of numbers") from None
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


def finite_array(xp, value, name):
    """``value`` as a floating array whose entries are all finite."""
    value = as_float(xp, value, name)
    if not bool(xp.all(xp.isfinite(value))):
        raise ValueError(f"{name} must be finite, got an entry of {_extreme(xp, value)!r}")
    return value


def positive_array(xp, value, name):
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
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
            low, f"an integer of at least {low}"
        )
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
    :func:`elbo_lib.densities.over_variance`)."""
    if (var is None) == (logvar is None):
        raise ValueError(f"pass exactly one of {name} and log{name}")
    if logvar is not None:
        logvar = as_float(xp, logvar, f"log{name}")
        if bool(xp.any(xp.isinf(logvar))):
            raise ValueError(f"log{name} must be finite")
        return None, logvar
    var = positive_array(xp, var, name)
    return var, xp.log(var)


def given(name, var):
    """The name of the argument the caller gave: ``name`` if ``var`` is not None, else
    ``"log" + name``."""
    return name if var is not None else f"log{name}"


def _extreme(xp, value):
    value = value.detach() if hasattr(value, "detach") else value
    flat = xp.reshape(value, (-1,))
    return float(flat[xp.logical_not(xp.isfinite(flat))][0])


def check_finite(**values):
    """Raise a ``ValueError`` naming the first of ``values`` (numbers or arrays, numpy or torch)
    that is not made of finite numbers."""
    for name, value in values.items():
        as_numpy(value, name)


# ------------------------------------------------------------------ declarations and the switch


class _Switch:
    skipping = 0


class skip_validation:
    """Within the block, declared functions take their arguments as given, unchecked."""

    def __enter__(self):
        _Switch.skipping += 1

    def __exit__(self, *exc):
        _Switch.skipping -= 1


@dataclass(frozen=True)
class Kind:
    """What a parameter accepts: ``check(value, name, xp)`` returns the value in the form the
    body uses or raises a ValueError naming ``name``; ``tag`` and ``limits`` name the kind for
    the tests that derive hostile input from it."""

    tag: str
    check: Any = field(repr=False)
    array: bool = False  # takes part in choosing the call's namespace
    limits: tuple = ()

    def __call__(self, value, name, xp=None):
        return self.check(value, name, xp)


def validate(*relations, returns=None, **kinds):
    """Check the declared parameters of the decorated function (``name=kind``) on every call
    outside :func:`skip_validation`, then ``relations`` (functions of the dict of checked
    arguments) and, if given, the result by ``returns(result)``."""

    def decorate(function):
        signature = inspect.signature(function)
        unknown = set(kinds) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{function.__qualname__} has no parameters {sorted(unknown)}")
        arrays = [name for name, kind in kinds.items() if kind.array]
        switch, space = _Switch, namespace
        parameters = signature.parameters.values()
        positional = [p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD]
        defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
        if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in parameters):
            raise TypeError(f"{function.__qualname__}: declare keyword-capable parameters only")

        def checked(*args, **kwargs):
            if switch.skipping:
                return function(*args, **kwargs)
            if len(args) > len(positional) or any(n in kwargs for n in positional[: len(args)]):
                signature.bind(*args, **kwargs)  # Python's own TypeError
            values = dict(zip(positional, args, strict=False)) | kwargs
            for name in kinds:
                if name not in values:
                    if name not in defaults:
                        signature.bind(*args, **kwargs)  # a required argument is missing
                    values[name] = defaults[name]
            xp = space(*(values[name] for name in arrays))
            for name, kind in kinds.items():
                values[name] = kind(values[name], name, xp)
            for relation in relations:
                relation(values)
            result = function(**values)
            if returns is not None:
                returns(result)
            return result

        # the wrapper is the function's own code object, in the function's module: tracebacks,
        # profilers and code-object identities see the declared function
        code = function.__code__
        checked = types.FunctionType(
            checked.__code__.replace(
                co_name=code.co_name,
                co_qualname=code.co_qualname,
                co_filename=code.co_filename,
                co_firstlineno=code.co_firstlineno,
            ),
            function.__globals__,
            function.__name__,
            None,
            checked.__closure__,
        )
        functools.update_wrapper(checked, function)
        checked.declaration = kinds | {
            name: kind
            for relation in relations
            for name, kind in getattr(relation, "kinds", {}).items()
        }
        return checked

    return decorate


def declared(function):
    """The declaration of a callable (``{}`` if it has none): for a class, its ``__init__``'s."""
    function = getattr(function, "__init__", function) if inspect.isclass(function) else function
    return getattr(function, "declaration", None)


def _scalar(value):
    """A 0-d numpy array or torch tensor as its Python number; anything else unchanged."""
    if getattr(value, "ndim", None) == 0 and not isinstance(value, Real | str):
        if array_api_compat.is_torch_array(value):
            value = value.detach()
        try:
            return value.item()
        except (TypeError, ValueError, AttributeError):
            return value
    return value


def optional(kind):
    """``kind`` or None."""

    def check(value, name, xp):
        return None if value is None else kind(value, name, xp)

    return Kind(kind.tag, check, kind.array, (*kind.limits, "optional"))


# Arrays: floating arrays of the call's namespace, NaN refused.
array = Kind("array", lambda v, n, xp: as_float(xp, v, n), array=True)
finite = Kind("finite", lambda v, n, xp: finite_array(xp, v, n), array=True)
positive = Kind("positive", lambda v, n, xp: positive_array(xp, v, n), array=True)
logvar = Kind("logvar", lambda v, n, xp: finite_array(xp, v, n), array=True)


def _log_weights(value, name, xp):
    value = as_float(xp, value, name)
    if bool(xp.any(value == math.inf)):
        raise ValueError(f"{name} contains +inf: a log-weight must be finite or -inf")
    return value


log_weights = Kind("log_weights", _log_weights, array=True)


numpy_finite = Kind("numpy_finite", lambda v, n, xp: as_numpy(v, n))


def real(low=-math.inf, high=math.inf, *, strict=True, below=False):
    """A finite real number in (low, high] (or [low, high] when not ``strict``; with ``high``
    left out too when ``below``), as a float."""

    def check(value, name, xp):
        value = number(_scalar(value), name, low=low, high=high, strict=strict)
        if below and value == high:
            raise ValueError(f"{name} must lie in ({low:g}, {high:g}), got {value!r}")
        return value

    return Kind("real", check, limits=(low, high, strict, below))


real_number = real()
positive_real = real(0.0)
non_negative = real(0.0, strict=False)
probability = real(0.0, 1.0, strict=False)
fraction = real(0.0, 1.0, below=True)  # in the open interval (0, 1)

COUNT_LIMIT = 10**6


def count(low=1, limit=COUNT_LIMIT):
    """An integer in [low, limit] (a numpy integer or a 0-d integer array too), as an int; a
    count beyond ``limit`` is refused before anything is allocated."""

    def check(value, name, xp):
        value = integer(_scalar(value), name, low)
        if value > limit:
            raise ValueError(f"{name} must be at most {limit:,}, got {value:,}")
        return value

    return Kind("count", check, limits=(low, limit))


SEED_LIMIT = 2**63


def _seed(value, name, xp=None):
    return count(0, SEED_LIMIT - 1)(value, name)


seed = Kind("seed", _seed, limits=(0, SEED_LIMIT - 1))


def _function(value, name, xp):
    if not callable(value):
        raise ValueError(f"{name} must be callable, got {value!r}")
    return value


function = Kind("function", _function)


def instance(*classes, what=None):
    """An instance of one of ``classes`` (a model, an axes, …)."""
    what = what or " or ".join(c.__name__ for c in classes)

    def check(value, name, xp):
        if not isinstance(value, classes):
            raise ValueError(f"{name} must be a {what}, got {type(value).__name__}")
        return value

    return Kind("instance", check, limits=classes)


def choice(*options):
    """One of ``options``."""

    def check(value, name, xp):
        if not any(value is o or (type(value) is type(o) and value == o) for o in options):
            raise ValueError(f"{name} must be one of {options}, got {value!r}")
        return value

    return Kind("choice", check, limits=options)


flag = choice(True, False)


def _text(value, name, xp):
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    return value


text = Kind("text", _text)


def _sizes(value, name, xp):
    """A tuple of layer widths: an int or a sequence of counts."""
    values = (value,) if isinstance(value, Integral) else value
    if isinstance(values, str) or not isinstance(values, tuple | list):
        raise ValueError(f"{name} must be a tuple of positive integers, got {value!r}")
    return tuple(count(1, 2**14)(v, f"each entry of {name}") for v in values)


hidden = Kind("hidden", _sizes)
anything = Kind("anything", lambda v, n, xp: v)


def _finite_tensor(value, name, xp):
    import torch

    if not (isinstance(value, torch.Tensor) and value.is_floating_point()):
        raise ValueError(
            f"{name} must be a floating-point torch tensor, got {type(value).__name__}"
        )
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite (got NaN or inf)")
    return value


tensor = Kind("tensor", _finite_tensor)
index = Kind("index", lambda v, n, xp: integer(_scalar(v), n, low=-(2**62)))


def _covariance(value, name, xp):
    cov = finite_array(xp, value, name)
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2] or cov.shape[-1] == 0:
        raise ValueError(
            f"{name} must be a square matrix (..., k, k), got shape {tuple(cov.shape)}"
        )
    asymmetry = xp.max(xp.abs(cov - xp.matrix_transpose(cov)))
    if bool(asymmetry > 1e-8 * xp.max(xp.abs(cov))):
        raise ValueError(f"{name} must be symmetric")
    if not bool(xp.all(xp.linalg.eigvalsh(cov) > 0)):
        raise ValueError(f"{name} must be positive definite")
    return cov


covariance = Kind("covariance", _covariance, array=True)


def _torch_finite(value, name, xp):
    return finite_array(_namespace(True), value, name)


torch_finite = Kind("torch_finite", _torch_finite)


def model_data(name, model="self"):
    """A relation: argument ``name`` is data for the argument ``model`` (a VAE), converted by
    its ``check_data`` to the model's dtype."""

    def check(values):
        values[name] = values[model].check_data(values[name], name)

    check.kinds = {name: Kind("data", None)}  # declared by the relation
    return check


def _finite_values(value, name, xp):
    as_numpy(value, name)
    return value


finite_values = Kind("finite_values", _finite_values)  # checked, passed on as given


def _axes(value, name, xp):
    from matplotlib.axes import Axes

    if not isinstance(value, Axes):
        raise ValueError(f"{name} must be a matplotlib Axes, got {type(value).__name__}")
    return value


axes = Kind("axes", _axes)


def _positive_numpy(value, name, xp):
    return positive_array(np, as_numpy(value, name), name)


positive_values = Kind("positive_values", _positive_numpy)
numpy_covariance = Kind(
    "covariance", lambda v, n, xp: _covariance(as_numpy(v, n), n, _namespace(False))
)


def _model_of(module, cls):
    def check(value, name, xp):
        import importlib

        expected = getattr(importlib.import_module(module), cls)
        if not isinstance(value, expected):
            raise ValueError(f"{name} must be a {cls}, got {type(value).__name__}")
        return value

    return Kind("model", check, limits=(module, cls))


vae_model = _model_of("elbo_lib.vae", "VAE")  # imported on use: no torch for numpy callers
linear_gaussian_model = _model_of("elbo_lib.linear_gaussian", "LinearGaussian")


def _vae_2d(value, name, xp):
    value = vae_model(value, name, xp)
    if value.z_dim != 2:
        raise ValueError(f"{name} must have a 2-D latent (z_dim == 2), got z_dim = {value.z_dim}")
    return value


vae_2d = Kind("model", _vae_2d, limits=vae_model.limits)  # a VAE whose latent is a plane


def gaussian_pair(value, name, shape):
    """``value`` as a pair (mu, logvar) of finite numpy arrays of ``shape``, or a ValueError
    naming ``name``."""
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise ValueError(f"{name} must be a pair (mu, logvar), got {value!r}")
    value = tuple(as_numpy(v, name) for v in value)
    if any(v.shape != tuple(shape) for v in value):
        raise ValueError(f"{name} must be a pair (mu, logvar) of arrays of shape {tuple(shape)}")
    return value


def _layers(value, name, xp):
    sizes = _sizes(value, name, xp)
    if not sizes:
        raise ValueError(f"{name} must hold at least one layer size, got {value!r}")
    return sizes


layers = Kind("hidden", _layers)  # at least one hidden layer
