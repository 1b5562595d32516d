r"""The harness of the exercise checks: how a check calls an answer and reads what it returns.

A check (``elbo_lib.exercises``, ``elbo_lib.problems_*``) is a body that returns a success note or
raises :class:`NotDone` or :class:`Wrong`; :func:`exercise` turns it into a function that never
raises and prints one verdict (``…``, ``✗`` or ``✓``). Every call of an answer goes through
:func:`call`:

* in a notebook, the answer runs in a thread of its own, on copies of its inputs, with a deadline:
  past it, :class:`TimeUp` is raised into that thread only (never into the kernel's own loop, and
  no signal is used); a profile hook in that thread tells when the answer hands the asked-for
  quantity to ``elbo_lib``, ``torch.distributions`` or ``scipy.stats``;
* in the grader (``tools/grade.py``), the answer is a :class:`RemoteAnswer`: it runs in a worker
  process of its own and only plain data comes back, so the check and its verdict stay in a
  process that never executes the answer's code.
"""

import contextlib
import copy
import ctypes
import functools
import importlib
import inspect
import math
import os
import sys
import sysconfig
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import stats

NOT_DONE = "not done yet: replace `raise NotImplementedError()` with your code, then run this again"
TIME_LIMIT = 10.0  # seconds for one call of an answer
_SIGMAS = 5  # a Monte Carlo answer may be this many standard errors off
_STOP_TRIES = 40  # TimeUp is raised into a late answer's thread every 50 ms, this many times
SEED = 0  # the seed of the checks' random inputs; the grader draws its own at grading time


class NotDone(Exception):
    """The function is still a stub."""


class Wrong(Exception):
    """A wrong answer; the message says what to change."""


class Stop(BaseException):
    """Raised into an answer to stop it; a BaseException, so ``except Exception`` lets it pass."""


class TimeUp(Stop):
    """The answer ran past its time limit."""


class Delegated(Stop):
    """The answer called a library function that computes what the exercise asks for."""


_KEY = []  # a list per answer_key() in use: the values the checks compare answers against


@contextlib.contextmanager
def answer_key():
    """Record the values that the checks run inside compare answers with (the numeric answers at
    the checks' inputs): ``with answer_key() as values: check(answer)``."""
    values = []
    _KEY.append(values)
    try:
        yield values
    finally:
        _KEY.remove(values)


def in_key(value):
    """``value``, recorded as an answer by every :func:`answer_key` in use."""
    for values in _KEY:
        values.append(np.array(numbers(value), dtype=float).reshape(-1))
    return value


def say(mark, title, text, indent=""):
    """The one way a verdict is printed: ``✓``, ``✗`` or ``…``, then what it is about."""
    print(f"{indent}{mark} {title}: {text}" if title else f"{indent}{mark} {text}")


def _nbgrader():
    """Whether ``nbgrader autograde`` (or ``validate``) runs this notebook."""
    return os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")


def exercise(title):
    """Turn a check body, which returns a success note or raises ``NotDone``/``Wrong``, into a
    check that prints its verdict and returns True or False. Under ``nbgrader autograde`` a check
    that does not pass raises ``AssertionError`` after its verdict (so nbgrader gives the grade
    cell no points) and one that passes returns None (so nbgrader reads no output as a score);
    in a student's notebook it never raises."""

    def decorate(body):
        @functools.wraps(body)
        def check(*answers):
            try:
                with np.errstate(all="ignore"):
                    note = body(*answers)
            except NotDone:
                verdict = f"{NOT_DONE}."
                say("…", title, verdict)
            except Wrong as wrong:
                verdict = str(wrong)
                say("✗", title, verdict)
            except Exception as error:  # an answer so unexpected that the check cannot read it
                verdict = f"could not check your answer ({type(error).__name__}: {error})."
                say("✗", title, verdict)
            else:
                say("✓", title, f"correct! {note}")
                return None if _nbgrader() else True
            if _nbgrader():
                raise AssertionError(f"{title}: {verdict}")
            return False

        check.title = title
        return check

    return decorate


def input_rng(n):
    """The numpy generator of a check's ``n``-th random input, seeded by :data:`SEED` and n."""
    return np.random.default_rng([SEED, n])


def input_generator(n):
    """The torch generator of a check's ``n``-th random input (see :func:`input_rng`)."""
    return torch.Generator().manual_seed(int(input_rng(n).integers(2**62)))


# Delegation: a call from the answer's own code into a forbidden package ------------------------

_HERE = Path(__file__).resolve().parent
LIBRARY_DIRS = tuple(
    sorted(
        {str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "purelib", "platlib")}
        | {str(_HERE)}
    )
)
FORBIDDEN = (  # where the asked-for quantities are computed: (folder, what to call it)
    (str(_HERE) + "/", "elbo_lib"),
    (str(Path(stats.__file__).resolve().parent) + "/", "scipy.stats"),
    (str(Path(torch.distributions.__file__).resolve().parent) + "/", "torch.distributions"),
)
CHECK_FILES = frozenset(  # the modules of checks, whose functions a check hands to answers
    str(path) for path in [_HERE / "exercises.py", *sorted(_HERE.glob("problems_*.py"))]
)


def check_modules():
    """The modules of checks: ``elbo_lib.exercises`` (notebook 17) and ``elbo_lib.problems_*``
    (the problem sets)."""
    return [importlib.import_module(f"elbo_lib.{Path(f).stem}") for f in sorted(CHECK_FILES)]


def find_check(name):
    """The check called ``name``, from whichever module of checks defines it."""
    for module in check_modules():
        if callable(getattr(module, name, None)):
            return getattr(module, name)
    raise LookupError(f"no check {name} in {', '.join(m.__name__ for m in check_modules())}")


def allowed_calls():
    """The library calls some answer may make (each module's ``ALLOWED_CALLS``)."""
    return frozenset().union(*(getattr(m, "ALLOWED_CALLS", ()) for m in check_modules()))


@functools.cache
def references():
    """The code of the checks' own answers: the private module-level functions of the modules of
    checks (``_gaussian_kl``, ``_reference_loss``, …), but for those a module hands to answers
    (its ``HANDED_OVER``). An answer may not call them."""
    found = set()
    for module in check_modules():
        handed = set(getattr(module, "HANDED_OVER", ()))
        for name, value in vars(module).items():
            private = name.startswith("_") and inspect.isfunction(value)
            if private and value.__module__ == module.__name__ and value not in handed:
                found.add(value.__code__)
    return frozenset(found)


@functools.cache
def _library(filename):
    """Whether code in ``filename`` belongs to Python, an installed package or elbo_lib (and not
    to the answer, which lives in a notebook cell or a test)."""
    if filename.startswith("<frozen"):
        return True
    return str(Path(filename).resolve()).startswith(LIBRARY_DIRS)


@functools.cache
def _forbidden(filename):
    """The package name if code in ``filename`` may not be called by an answer, else None."""
    if filename.startswith("<"):
        return None
    path = str(Path(filename).resolve())
    if path in CHECK_FILES:
        return None
    for folder, name in FORBIDDEN:
        if path.startswith(folder):
            return name
    return None


def _handed_over(code):
    return code.co_filename in CHECK_FILES or str(Path(code.co_filename).resolve()) in CHECK_FILES


def delegation(frame, allow, entry):
    """The name of the function called in ``frame`` if that call is a delegation: a function of
    a forbidden package (not in ``allow``, a set of code objects) called, directly or through
    other libraries, by the answer's own code while the answer runs (the call of the answer is
    the frame of code ``entry``). None for a call made inside the library itself."""
    code = frame.f_code
    package = "the checks" if code in references() else _forbidden(code.co_filename)
    if package is None or code in allow:
        return None
    student, caller = False, frame.f_back
    while caller is not None:
        calling = caller.f_code
        if calling is entry:
            return (
                f"{frame.f_globals.get('__name__', package)}.{code.co_qualname}"
                if student
                else None
            )
        if calling in allow or _forbidden(calling.co_filename) or _handed_over(calling):
            return None
        student = student or not _library(calling.co_filename)
        caller = caller.f_back
    return None


# Calling an answer ------------------------------------------------------------------------------


class RemoteAnswer:
    """An answer that runs elsewhere (the grader's worker process): ``remote_call(args,
    limit, allow)`` returns its result as plain data, or raises what the answer raised
    (NotImplementedError, SystemExit, :class:`TimeUp`, :class:`Delegated` with the function's
    name, or another exception)."""

    def remote_call(self, args, limit, allow):
        raise NotImplementedError


def _copy(value):
    """A copy the answer may change freely; tensors keep their place in the autograd graph, and
    functions handed over (an estimator, a decoder) stay themselves."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if callable(value) and not isinstance(value, torch.nn.Module):
        return value
    return copy.deepcopy(value)


def _stop(thread):
    """Raise :class:`TimeUp` into ``thread`` every 50 ms until it ends (at most 2 s)."""
    for _ in range(_STOP_TRIES):
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(TimeUp)
        )
        thread.join(0.05)
        if not thread.is_alive():
            return True
    return False


def _run(fn, args, limit, allow):
    """``fn(*args)`` in a thread of its own within ``limit`` seconds; returns (the result or the
    exception it raised, whether it was late, the delegated function's name or None)."""
    outcome = {"used": None}

    def answer():
        def profile(frame, event, arg):
            if event == "call" and outcome["used"] is None:
                used = delegation(frame, allow, answer.__code__)
                if used is not None:
                    outcome["used"] = used
                    raise Delegated

        sys.setprofile(profile)
        try:
            with np.errstate(all="ignore"):
                outcome["value"] = fn(*args)
        except BaseException as error:  # reported to the check, whatever it is
            outcome["value"] = error
        finally:
            sys.setprofile(None)

    thread = threading.Thread(target=answer, name="exercise answer", daemon=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thread.start()
        try:
            thread.join(limit)
        finally:
            late = thread.is_alive() and (_stop(thread) or True)
    return outcome.get("value"), late, outcome["used"]


def call(fn, *args, limit=None, allow=()):
    """``fn(*args)`` on copies of the arguments, within ``limit`` seconds (default
    :data:`TIME_LIMIT`), with elbo_lib, scipy.stats and torch.distributions off limits (but for
    the code objects in ``allow``). A stub becomes ``NotDone``; anything else that goes wrong,
    ``Wrong`` with a hint."""
    limit = limit or TIME_LIMIT
    if isinstance(fn, RemoteAnswer):
        try:
            out, late, used = fn.remote_call(args, limit, allow), False, None
        except TimeUp:
            out, late, used = None, True, None
        except Delegated as delegated:
            out, late, used = None, False, str(delegated) or "the library"
        except BaseException as error:
            out, late, used = error, False, None
    elif not callable(fn):
        raise Wrong(f"pass your function itself, not a {type(fn).__name__}")
    else:
        out, late, used = _run(fn, [_copy(a) for a in args], limit, allow)
    if used is not None:
        raise Wrong(
            f"compute it yourself, not with {used}: the exercise asks for the formula, "
            "written with numpy or torch operations"
        )
    if late:
        raise Wrong(
            f"your function did not return within {limit:g} s: look for a loop that never ends"
        )
    if isinstance(out, NotImplementedError):
        raise NotDone
    if isinstance(out, SystemExit):
        raise Wrong("your function called exit(): return the answer instead")
    if isinstance(out, BaseException):
        raise Wrong(f"your function raised {type(out).__name__}: {out}")
    if out is Ellipsis:
        raise NotDone
    if out is None:
        raise Wrong("your function returned None: did you forget `return`?")
    return out


# Reading what an answer returned ----------------------------------------------------------------


def numbers(out):
    """``out`` (a number, a numpy array or a real torch tensor) as a float64 numpy array; a
    string, a boolean, a complex number or anything else is refused with a hint."""
    if isinstance(out, torch.Tensor):
        if out.is_complex() or out.dtype == torch.bool:
            raise Wrong(f"your function returned a {out.dtype} tensor: return real numbers")
        out = out.detach().cpu().double().numpy()
    if isinstance(out, str | bytes):
        raise Wrong(f"you returned a str ({out!r}): return the number itself, not text")
    try:
        array = np.asarray(out)
    except (TypeError, ValueError, RuntimeError):
        array = np.asarray(None)
    kind = array.dtype.kind
    if kind == "c":
        raise Wrong("your function returned a complex number: the answer is real")
    if kind == "b":
        raise Wrong("your function returned True/False: return a number")
    if kind in "US":
        raise Wrong("you returned a str: return numbers, not text")
    if kind not in "iuf":
        raise Wrong(f"your function returned a {type(out).__name__}: return a number or an array")
    return array.astype(float)


def close(a, b, rtol=1e-6, atol=1e-9):
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def show(a):
    return np.array2string(
        np.asarray(a, dtype=float), precision=4, separator=", ", floatmode="fixed"
    )


def finite(got, case, hint):
    """Raise ``Wrong`` if ``got`` holds NaN or ±inf: the first thing every check tests."""
    got = numbers(got)
    if not np.all(np.isfinite(got)):
        kind = "NaN" if np.isnan(got).any() else "-inf" if np.any(got == -np.inf) else "inf"
        raise Wrong(f"{kind} for {case}: {hint}.")
    return got


def compare(got, expected, case, *, mistakes=(), shapes=None, nonfinite, rtol=1e-6, atol=1e-9):
    """Raise ``Wrong`` unless ``got`` ≈ ``expected``.

    ``mistakes`` holds (what a known mistake returns, hint) pairs, tried in order; ``shapes`` maps
    a wrong shape to its hint; ``nonfinite`` is the hint for NaN or inf where the answer is finite.
    """
    got, expected = numbers(got), np.asarray(in_key(expected), dtype=float)
    if np.all(np.isfinite(expected)):
        finite(got, case, nonfinite)
    if got.shape != expected.shape:
        hint = (shapes or {}).get(got.shape, f"expected shape {expected.shape}")
        raise Wrong(f"for {case} you returned shape {got.shape}: {hint}.")
    if np.any(~np.isfinite(got) & np.isfinite(expected)):
        finite(got[np.isfinite(expected)], case, nonfinite)
    if close(got, expected, rtol, atol):
        return
    for value, hint in mistakes:
        if value is not None and close(got, numbers(value), rtol, atol):
            raise Wrong(f"{hint} (seen for {case}).")
    raise Wrong(f"wrong value for {case}: expected {show(expected)}, got {show(got)}.")


def reduction_hints(shape, verb):
    """Hints for a reduction over the last axis of an array of ``shape`` that went wrong."""
    hints = {shape: f"one value per dimension: {verb} over the last axis (axis=-1)"}
    if len(shape) == 2:
        hints[()] = f"one number for the whole batch: {verb} over the last axis only, one per row"
        hints[shape[-1:]] = f"you reduced the batch axis: {verb} over the last axis (axis=-1)"
    return hints


def or_none(function, *args):
    """``function(*args)``, or None when the arguments are outside its domain."""
    try:
        return function(*args)
    except ValueError:
        return None


def pair(out, what="(mean, variance)"):
    """An answer that must be a pair."""
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise Wrong(f"you returned a {type(out).__name__}: return a pair {what}.")
    return out


def monte_carlo(estimate, exact, case, *, seeds=200, hints=()):
    """Check a Monte Carlo answer, ``estimate(seed)`` → one number: finite, the same for the same
    seed, different for different seeds, and unbiased: the mean over ``seeds`` seeds lies within
    five standard errors of ``exact``. ``hints`` holds (mean a known mistake has, hint) pairs,
    tried when the mean is off. Returns the estimates."""
    in_key(exact)
    first = finite(estimate(0), case, "an estimate is an average of finite terms")
    if first.shape != ():
        raise Wrong(f"for {case} you returned shape {first.shape}: return one number.")
    if numbers(estimate(0)) != first:
        raise Wrong(
            "the same seed gave two different estimates: draw every random number from the rng "
            "argument (rng.standard_normal), not from np.random"
        )
    values = np.array(
        [float(finite(estimate(s), case, "every estimate must be finite")) for s in range(seeds)]
    )
    if np.ptp(values) == 0:
        raise Wrong(
            f"your estimate is {values[0]:.4f} for every seed: a Monte Carlo estimate changes "
            "with its random draws. Sample z with the rng you are given, then average"
        )
    error = values.std(ddof=1) / math.sqrt(seeds)
    if abs(values.mean() - exact) <= _SIGMAS * error + 1e-9:
        return values
    for mean, hint in hints:
        if abs(values.mean() - mean) <= _SIGMAS * error + 1e-9:
            raise Wrong(f"{hint} (seen for {case}).")
    raise Wrong(
        f"for {case} your estimates average {values.mean():.4f} over {seeds} seeds, but the "
        f"exact value is {exact:.4f}: more than five standard errors (±{error:.3g}) away, so "
        "the estimator is biased"
    )
