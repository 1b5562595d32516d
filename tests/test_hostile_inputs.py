"""Hostile input for every public callable of elbo_lib.

Each case is a call with a bad or extreme input and what it must give: the correct value (against
scipy, torch.distributions, mpmath or a closed form) or a ``ValueError`` whose message names the
argument. :data:`CASES` is a table; :func:`test_every_public_callable_has_cases` fails when a new
public function has no entry. Models and data are tiny, so the module runs in seconds.
"""

import importlib
import inspect
import math
import pkgutil
import re
import sys
from dataclasses import dataclass, replace
from typing import Any

import matplotlib
import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy import stats
from torch.distributions import Bernoulli, Normal, kl_divergence

import elbo_lib
from elbo_lib import (
    adam,
    ascent,
    beta_widget,
    bounds,
    checks,
    collapse,
    data,
    densities,
    diagnostics,
    divergences,
    estimators,
    kl,
    linear_gaussian,
    made,
    plots,
    rate_distortion,
    schedules,
    vae,
    vae_plots,
    widgets,
)
from elbo_lib.linear_gaussian import LinearGaussian

matplotlib.use("Agg")

EXEMPT = {
    module: "feedback checks for students: every input gives a hint, never an exception "
    "(tests/test_exercises.py)"
    for module in ["exercises"]
} | {"validation": "the validators themselves (tests/test_validation.py)"}


@dataclass(frozen=True)
class Case:
    """``call()`` must raise a ValueError matching ``raises``, or return a value that
    ``check`` accepts (an assertion inside ``check`` fails the case)."""

    target: str
    label: str
    call: Any
    raises: str | None = None
    check: Any = None


CASES: list[Case] = []


def case(target, label, call, raises=None, check=None):
    CASES.append(Case(target, label, call, raises, check))


def close(expected, rel=1e-12, abs=0.0):
    def check(out):
        value = out.detach().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        np.testing.assert_allclose(value, expected, rtol=rel, atol=abs)

    return check


def ax():
    return Figure().add_subplot()


# Inputs that are not numbers at all, for any array argument.
NOT_NUMBERS = {
    "NaN": math.nan,
    "None": None,
    "a string": "1.0",
    "a list holding None": [1.0, None],
    "a dict": {},
    "a complex number": 1j,
}
# Bad values for a positive finite scalar (a count also gets 1.5, a non-integral value).
BAD_POSITIVE = {
    "NaN": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "zero": 0.0,
    "negative": -1.0,
    "None": None,
    "a string": "1",
    "a bool": True,
    "a list": [1.0],
}
BAD_NON_NEGATIVE = {k: v for k, v in BAD_POSITIVE.items() if k != "zero"}
BAD_FINITE = {k: v for k, v in BAD_POSITIVE.items() if k not in ("zero", "negative")}
BAD_COUNT = {
    "zero": 0,
    "negative": -3,
    "a float": 1.5,
    "a bool": True,
    "None": None,
    "a string": "3",
    "NaN": math.nan,
}
BAD_SEED = {"a float": 1.5, "a bool": True, "None": None, "a string": "0", "negative": -1}


def bad_arguments(target, function, valid, bad_values, names):
    """One case per argument in ``names`` and per bad value: the error must name the argument."""
    for name in names:
        for label, bad in bad_values.items():
            kwargs = dict(valid) | {name: bad}
            case(
                target,
                f"{name} = {label}",
                lambda kwargs=kwargs: function(**kwargs),
                raises=rf"\b{name}\b",
            )


# ---------------------------------------------------------------- densities, kl, bounds


bad_arguments(
    "densities.log_normal",
    densities.log_normal,
    {"x": 0.5, "mu": 0.1, "var": 2.0},
    NOT_NUMBERS,
    ["x", "mu"],
)
bad_arguments(  # var = None with no logvar means the standard normal: a valid call
    "densities.log_normal",
    densities.log_normal,
    {"x": 0.5, "mu": 0.1, "var": 2.0},
    {k: v for k, v in NOT_NUMBERS.items() if k != "None"},
    ["var"],
)
bad_arguments(
    "densities.log_normal",
    densities.log_normal,
    {"x": 0.5, "mu": 0.1, "var": 2.0},
    {"zero": 0.0, "negative": -1.0, "inf": math.inf},
    ["var"],
)
bad_arguments(
    "densities.log_normal",
    densities.log_normal,
    {"x": 0.5, "logvar": 0.3},
    {k: v for k, v in NOT_NUMBERS.items() if k != "None"} | {"inf": math.inf},
    ["logvar"],
)
case(
    "densities.log_normal",
    "logvar = -1000 (variance 1e-435)",
    lambda: densities.log_normal(0.0, 0.0, logvar=-1000.0),
    check=close(-0.5 * (math.log(2 * math.pi) - 1000.0)),
)
case(
    "densities.log_normal",
    "var = 1e-300 and x one std away",
    lambda: densities.log_normal(1e-150, 0.0, 1e-300),
    check=close(float(mpmath.log(mpmath.npdf(mpmath.mpf("1e-150"), 0, mpmath.sqrt("1e-300"))))),
)
case(
    "densities.log_normal",
    "var = 1e300",
    lambda: densities.log_normal(1e150, 0.0, 1e300),
    check=close(stats.norm(0, 1e150).logpdf(1e150)),
)
case(
    "densities.log_normal",
    "x far out with a tiny logvar: -inf",
    lambda: densities.log_normal(1.0, 0.0, logvar=-1e4),
    check=lambda out: out == -math.inf,
)
case(
    "densities.log_normal",
    "mixed numpy and a torch tensor that requires grad",
    lambda: densities.log_normal(torch.tensor([0.3, -1.0], requires_grad=True), np.ones(2), 2.0),
    check=close(stats.norm(1.0, math.sqrt(2.0)).logpdf([0.3, -1.0]), rel=1e-6),
)
case(
    "densities.log_normal",
    "ints and bools",
    lambda: densities.log_normal(np.array([1, 2]), True, 4),
    check=close(stats.norm(1.0, 2.0).logpdf([1, 2])),
)
for dtype in (torch.float16, torch.float32, torch.float64):
    case(
        "densities.log_normal",
        f"torch {dtype}",
        lambda dtype=dtype: densities.log_normal(torch.tensor([0.5], dtype=dtype), 0.0, 2.0),
        check=close(
            stats.norm(0, math.sqrt(2)).logpdf(0.5), rel=1e-2 if dtype == torch.float16 else 1e-6
        ),
    )
case(
    "densities.log_normal",
    "empty x",
    lambda: densities.log_normal(np.array([])),
    check=lambda out: out.shape == (0,),
)
case(
    "densities.log_normal",
    "shapes that do not broadcast",
    lambda: densities.log_normal(np.zeros(3), np.zeros(2)),
    raises="x.*mu",
)

bad_arguments(
    "kl.kl_normal",
    kl.kl_normal,
    {"mu_q": 0.2, "var_q": 0.5, "mu_p": -0.1, "var_p": 2.0},
    NOT_NUMBERS,
    ["mu_q", "var_q", "mu_p"],
)
bad_arguments(  # var_p = None means the standard-normal prior's variance, 1
    "kl.kl_normal",
    kl.kl_normal,
    {"mu_q": 0.2, "var_q": 0.5, "mu_p": -0.1, "var_p": 2.0},
    {k: v for k, v in NOT_NUMBERS.items() if k != "None"},
    ["var_p"],
)
bad_arguments(
    "kl.kl_normal",
    kl.kl_normal,
    {"mu_q": 0.2, "var_q": 0.5},
    {"zero": 0.0, "negative": -2.0, "inf": math.inf},
    ["var_q", "var_p"],
)
case(
    "kl.kl_normal",
    "mixed torch and numpy",
    lambda: kl.kl_normal(torch.zeros(3), np.ones(3)),
    check=close(np.zeros(3)),
)
case(
    "kl.kl_normal",
    "equal log-variances of -800",
    lambda: kl.kl_normal(0.0, logvar_q=-800.0, logvar_p=-800.0),
    check=close(0.0),
)
case(
    "kl.kl_normal",
    "var_p and logvar_p both given",
    lambda: kl.kl_normal(0.0, 1.0, var_p=2.0, logvar_p=0.0),
    raises="var_p and logvar_p",
)
case(
    "kl.kl_normal",
    "logvar_p alone: var_p is not 1",
    lambda: kl.kl_normal(0.3, 0.5, 0.0, logvar_p=math.log(4.0)),
    check=close(float(kl_divergence(Normal(0.3, math.sqrt(0.5)), Normal(0.0, 2.0))), rel=1e-6),
)
case(
    "kl.kl_normal",
    "variances 1e-300 and 1e300",
    lambda: kl.kl_normal(0.0, 1e-300, 1e-150, 1e300),
    check=close(
        float(
            (mpmath.log(mpmath.mpf("1e600")) + mpmath.mpf("1e-600") + mpmath.mpf("1e-600") - 1) / 2
        )
    ),
)
case(
    "kl.kl_normal",
    "shapes that do not broadcast, named as given",
    lambda: kl.kl_normal(np.zeros(3), logvar_q=np.zeros(2)),
    raises="logvar_q",
)
bad_arguments(
    "kl.kl_to_standard_normal",
    kl.kl_to_standard_normal,
    {"mu": [0.1, 0.2], "var": [1.0, 2.0]},
    NOT_NUMBERS,
    ["mu", "var"],
)
case(
    "kl.kl_to_standard_normal",
    "0-d mu",
    lambda: kl.kl_to_standard_normal(0.0, 1.0),
    raises="mu must have at least one axis",
)
case(
    "kl.kl_to_standard_normal",
    "logvar of the wrong shape, named",
    lambda: kl.kl_to_standard_normal(np.zeros(2), logvar=np.zeros(3)),
    raises="logvar has shape",
)
case(
    "kl.kl_to_standard_normal",
    "logvar = -1e4",
    lambda: kl.kl_to_standard_normal(np.zeros(1), logvar=np.array([-1e4])),
    check=close(0.5 * (1e4 - 1)),
)
COV = np.array([[2.0, 0.3], [0.3, 1.0]])
bad_arguments(
    "kl.kl_mvn",
    kl.kl_mvn,
    {"mu_q": np.zeros(2), "cov_q": COV, "mu_p": np.ones(2), "cov_p": np.eye(2)},
    NOT_NUMBERS | {"inf": math.inf},
    ["mu_q", "cov_q", "mu_p", "cov_p"],
)
case(
    "kl.kl_mvn",
    "an inf entry in cov_p",
    lambda: kl.kl_mvn(np.zeros(2), COV, np.zeros(2), np.array([[np.inf, 0], [0, 1.0]])),
    raises="cov_p must be finite",
)
case(
    "kl.kl_mvn",
    "torch tensor that requires grad beside numpy",
    lambda: kl.kl_mvn(torch.zeros(2, requires_grad=True), COV, np.ones(2), np.eye(2)),
    check=close(
        float(
            kl_divergence(
                torch.distributions.MultivariateNormal(torch.zeros(2), torch.tensor(COV)),
                torch.distributions.MultivariateNormal(torch.ones(2), torch.eye(2)),
            )
        ),
        rel=1e-6,
    ),
)

for name, function in (
    ("log_mean_exp", bounds.log_mean_exp),
    ("iwae_bound", bounds.iwae_bound),
    ("jensen_gap", bounds.jensen_gap),
):
    arg = "a" if name == "log_mean_exp" else "log_w"
    bad_arguments(f"bounds.{name}", function, {arg: [0.0, 1.0]}, NOT_NUMBERS, [arg])
    case(f"bounds.{name}", "+inf", lambda f=function: f([0.0, math.inf]), raises=rf"\b{arg}\b")
    case(f"bounds.{name}", "empty", lambda f=function: f(np.zeros(0)), raises=rf"\b{arg}\b")
    case(f"bounds.{name}", "axis = 5", lambda f=function: f(np.zeros(3), axis=5), raises="axis")
    case(f"bounds.{name}", "axis = 0.5", lambda f=function: f(np.zeros(3), axis=0.5), raises="axis")
case(
    "bounds.log_mean_exp",
    "log-weights near +1e4 and -1e4",
    lambda: bounds.log_mean_exp(np.array([1e4, 1e4 - 1.0, -1e4])),
    check=close(float(mpmath.log((mpmath.exp(10000) + mpmath.exp(9999) + mpmath.exp(-10000)) / 3))),
)
case(
    "bounds.iwae_bound",
    "every weight zero: log 0",
    lambda: bounds.iwae_bound([-math.inf, -math.inf]),
    check=lambda out: out == -math.inf,
)
case(
    "bounds.jensen_gap",
    "every weight zero",
    lambda: bounds.jensen_gap([-math.inf, -math.inf]),
    raises="log_w is -inf everywhere",
)
for top in (1.7e308, -1.7e308):
    case(
        "bounds.jensen_gap",
        f"constant weights at {top:g}",
        lambda top=top: bounds.jensen_gap(np.full(4, top)),
        check=lambda out: out == 0.0,
    )
case(
    "bounds.jensen_gap",
    "constant weights never give a negative gap",
    lambda: bounds.jensen_gap(np.full((50, 7), 0.1) + np.arange(50)[:, None] / 7),
    check=lambda out: np.all(out >= 0),
)
case(
    "bounds.jensen_gap",
    "a zero weight among others: the gap is +inf",
    lambda: bounds.jensen_gap([0.0, -math.inf]),
    check=lambda out: out == math.inf,
)

# ---------------------------------------------------------------- linear-Gaussian and pPCA

bad_arguments(
    "linear_gaussian.LinearGaussian",
    LinearGaussian,
    {"w": 2.0, "sigma2": 0.5},
    BAD_FINITE,
    ["w"],
)
bad_arguments(
    "linear_gaussian.LinearGaussian",
    LinearGaussian,
    {"w": 2.0, "sigma2": 0.5},
    BAD_POSITIVE,
    ["sigma2"],
)
case(
    "linear_gaussian.LinearGaussian",
    "w = 1e200: w² overflows",
    lambda: LinearGaussian(1e200, 1.0),
    raises=r"\bw\b",
)
case(
    "linear_gaussian.LinearGaussian",
    "numpy float32 and a 0-d tensor",
    lambda: LinearGaussian(np.float32(2.0), torch.tensor(0.5)).sigma2,
    check=close(0.5),
)
MODEL = LinearGaussian(2.0, 0.5)
for method, args in (
    ("posterior", ("x",)),
    ("log_evidence", ("x",)),
    ("log_joint", ("x", "z")),
    ("expected_log_likelihood", ("x", "mu", "s2")),
    ("elbo", ("x", "mu", "s2")),
    ("kl_to_posterior", ("x", "mu", "s2")),
):
    valid = {"x": 1.0, "z": 0.3, "mu": 0.2, "s2": 0.4}
    valid = {a: valid[a] for a in args}
    bad_arguments(
        f"linear_gaussian.LinearGaussian.{method}",
        getattr(MODEL, method),
        valid,
        NOT_NUMBERS | {"inf": math.inf},
        args,
    )
case(
    "linear_gaussian.LinearGaussian.posterior",
    "x = inf",
    lambda: MODEL.posterior(np.inf),
    raises=r"\bx\b",
)
case(
    "linear_gaussian.LinearGaussian.kl_to_posterior",
    "a posterior variance that underflows (w = 1e150, σ² = 1e-200)",
    lambda: LinearGaussian(1e150, 1e-200).kl_to_posterior(0.0, 0.0, 1.0),
    # log(σ²_post) = log 1e-200 − log 1e300; KL = ½[σ²_q/σ²_p − 1 − log(σ²_q/σ²_p)] = inf
    check=lambda out: out == math.inf,
)
case(
    "linear_gaussian.LinearGaussian.kl_to_posterior",
    "a tiny but representable posterior variance",
    # posterior N(1e-200, 1e-300 (1 - 1e-300)); q one posterior std above its mean: KL = 1/2
    lambda: LinearGaussian(1e100, 1e-100).kl_to_posterior(1e-100, 1e-200 + 1e-150, 1e-300),
    check=close(0.5, rel=1e-9),
)
case(
    "linear_gaussian.LinearGaussian.sample",
    "n = True",
    lambda: MODEL.sample(True),
    raises=r"\bn\b",
)
bad_arguments("linear_gaussian.LinearGaussian.sample", MODEL.sample, {"n": 3}, BAD_SEED, ["seed"])

DIGITS = data.load_digits()[0][:40].double().numpy()
PPCA = linear_gaussian.fit_ppca(DIGITS, 3)
case(
    "linear_gaussian.fit_ppca",
    "a tensor that requires grad",
    lambda: linear_gaussian.fit_ppca(torch.tensor(DIGITS, requires_grad=True), 3)[2],
    check=close(PPCA[2]),
)
bad_arguments(
    "linear_gaussian.fit_ppca",
    linear_gaussian.fit_ppca,
    {"X": DIGITS, "z_dim": 3},
    NOT_NUMBERS | {"inf": math.inf},
    ["X"],
)
bad_arguments(
    "linear_gaussian.fit_ppca",
    linear_gaussian.fit_ppca,
    {"X": DIGITS, "z_dim": 3},
    BAD_COUNT | {"too large": 64},
    ["z_dim"],
)
X3 = DIGITS[:3]
for function in (linear_gaussian.ppca_log_likelihood, linear_gaussian.ppca_posterior):
    name = f"linear_gaussian.{function.__name__}"
    valid = {"X": X3, "W": PPCA[0], "mean": PPCA[1], "sigma2": PPCA[2]}
    bad_arguments(name, function, valid, NOT_NUMBERS | {"inf": math.inf}, ["X", "W", "mean"])
    bad_arguments(name, function, valid, BAD_POSITIVE, ["sigma2"])
    case(
        name,
        "NaN in one entry of W",
        lambda f=function: f(X3, np.where(PPCA[0] == PPCA[0][0, 0], np.nan, PPCA[0]), *PPCA[1:]),
        raises=r"\bW\b",
    )
MEANS, QCOV = linear_gaussian.ppca_posterior(X3, *PPCA)
bad_arguments(
    "linear_gaussian.ppca_elbo",
    linear_gaussian.ppca_elbo,
    {"X": X3, "W": PPCA[0], "mean": PPCA[1], "sigma2": PPCA[2], "q_means": MEANS, "q_cov": QCOV},
    NOT_NUMBERS | {"inf": math.inf},
    ["q_means", "q_cov"],
)
case(
    "linear_gaussian.ppca_elbo",
    "NaN in q_means",
    lambda: linear_gaussian.ppca_elbo(X3, *PPCA, np.full_like(MEANS, np.nan), QCOV),
    raises="q_means",
)
case(
    "linear_gaussian.ppca_elbo",
    "q_cov not positive definite",
    lambda: linear_gaussian.ppca_elbo(X3, *PPCA, MEANS, -QCOV),
    raises="q_cov",
)
case(
    "linear_gaussian.ppca_elbo",
    "exact posterior, torch input: the log-likelihood",
    lambda: linear_gaussian.ppca_elbo(torch.tensor(X3), *PPCA, torch.tensor(MEANS), QCOV),
    check=close(linear_gaussian.ppca_log_likelihood(X3, *PPCA), rel=1e-9),
)

# ---------------------------------------------------------------- divergences

GRID = np.linspace(-6, 6, 121)
LOG_P = stats.norm(0.5, 1.3).logpdf(GRID)
bad_arguments(
    "divergences.fit_gaussian",
    divergences.fit_gaussian,
    {"log_p": LOG_P, "grid": GRID},
    NOT_NUMBERS,
    ["log_p", "grid"],
)
case(
    "divergences.fit_gaussian",
    "log_p = +inf somewhere",
    lambda: divergences.fit_gaussian(np.where(GRID[3] == GRID, np.inf, LOG_P), GRID),
    raises="log_p",
)
case(
    "divergences.fit_gaussian",
    "grid with inf",
    lambda: divergences.fit_gaussian(LOG_P, np.r_[GRID[:-1], np.inf]),
    raises="grid",
)
case(
    "divergences.fit_gaussian",
    "objective = None",
    lambda: divergences.fit_gaussian(LOG_P, GRID, None),
    raises="objective",
)
case(
    "divergences.fit_gaussian",
    "tensors that require grad: forward fit matches the moments",
    lambda: divergences.fit_gaussian(
        torch.tensor(LOG_P, requires_grad=True), torch.tensor(GRID), "forward"
    ),
    check=close([0.5, 1.3], rel=1e-3),
)

case(
    "divergences.fit_gaussian",
    "a grid of 20001 points: the reverse fit stays within its memory",
    lambda: divergences.fit_gaussian(
        stats.norm(0.5, 1.3).logpdf(np.linspace(-6, 6, 20001)), np.linspace(-6, 6, 20001)
    ),
    check=close([0.5, 1.3], rel=1e-3),
)
bad_arguments(
    "divergences.reverse_kl",
    divergences.reverse_kl,
    {"mean": 0.0, "std": 1.0, "log_p": LOG_P, "grid": GRID},
    NOT_NUMBERS,
    ["mean", "std", "log_p", "grid"],
)
for label, std in (("zero", 0.0), ("negative", -1.0)):
    case(
        "divergences.reverse_kl",
        f"std {label}",
        lambda std=std: divergences.reverse_kl(0.0, std, LOG_P, GRID),
        raises=r"\bstd\b",
    )
case(
    "divergences.reverse_kl",
    "q = p: zero",
    lambda: divergences.reverse_kl(0.5, 1.3, LOG_P, GRID),
    check=close(0.0, abs=1e-6),
)
bad_arguments(
    "divergences.mixture_log_density",
    divergences.mixture_log_density,
    {"grid": GRID, "separation": 2.0, "weight": 0.3},
    NOT_NUMBERS,
    ["grid"],
)
bad_arguments(
    "divergences.mixture_log_density",
    divergences.mixture_log_density,
    {"grid": GRID, "separation": 2.0, "weight": 0.3},
    BAD_NON_NEGATIVE,
    ["separation"],
)
bad_arguments(
    "divergences.mixture_log_density",
    divergences.mixture_log_density,
    {"grid": GRID, "separation": 2.0, "weight": 0.3},
    BAD_FINITE | {"zero": 0.0, "one": 1.0},
    ["weight"],
)
case(
    "divergences.mixture_log_density",
    "a tensor grid that requires grad",
    lambda: divergences.mixture_log_density(torch.tensor(GRID, requires_grad=True), 0.0),
    check=close(stats.norm.logpdf(GRID), rel=1e-12),
)
bad_arguments(
    "divergences.factorised_fit",
    divergences.factorised_fit,
    {"mean": np.zeros(2), "cov": COV},
    NOT_NUMBERS | {"inf": math.inf},
    ["mean", "cov"],
)
case(
    "divergences.factorised_fit",
    "objective = 'both'",
    lambda: divergences.factorised_fit(np.zeros(2), COV, "both"),
    raises="objective",
)
bad_arguments(
    "ascent.gradient_path",
    ascent.gradient_path,
    {"objective": lambda m, v: -(m**2) - v, "mean": 0.5, "var": 1.0, "lr": 0.1, "steps": 3},
    BAD_FINITE,
    ["mean"],
)
bad_arguments(
    "ascent.gradient_path",
    ascent.gradient_path,
    {"objective": lambda m, v: -(m**2) - v, "mean": 0.5, "var": 1.0, "lr": 0.1, "steps": 3},
    BAD_POSITIVE,
    ["var", "lr"],
)
bad_arguments(
    "ascent.gradient_path",
    ascent.gradient_path,
    {"objective": lambda m, v: -(m**2) - v, "mean": 0.5, "var": 1.0, "lr": 0.1, "steps": 3},
    {k: v for k, v in BAD_COUNT.items() if k != "zero"},
    ["steps"],
)
case(
    "ascent.gradient_path",
    "an objective that returns NaN",
    lambda: ascent.gradient_path(lambda m, v: m * math.nan, 0.0, 1.0, lr=0.1, steps=3),
    raises="objective.*step 0",
)
case(
    "ascent.gradient_path",
    "objective = None",
    lambda: ascent.gradient_path(None, 0.0, 1.0, lr=0.1, steps=3),
    raises="objective",
)

# ---------------------------------------------------------------- data, schedules

bad_arguments(
    "data.load_digits",
    data.load_digits,
    {},
    BAD_FINITE | {"zero": 0.0, "one": 1.0},
    ["test_fraction"],
)
bad_arguments("data.load_digits", data.load_digits, {}, BAD_SEED, ["seed"])
bad_arguments(
    "data.load_digits", data.load_digits, {}, {"a string": "yes", "None": None}, ["binarize"]
)
bad_arguments(
    "adam.Adam", adam.Adam, {"params": [torch.zeros(2, requires_grad=True)]}, BAD_POSITIVE, ["lr"]
)
for label, params, raises in [
    ("no parameters", [], "params is empty"),
    ("a tensor without grad", [torch.zeros(2)], r"params\[0\] must be a leaf tensor"),
    ("a computed tensor", [torch.zeros(2, requires_grad=True) * 2], r"params\[0\] must be a leaf"),
    ("a number", [torch.zeros(2, requires_grad=True), 1.0], r"params\[1\] must be a leaf"),
]:
    case("adam.Adam", label, lambda params=params: adam.Adam(params, lr=0.1), raises=raises)
case(
    "adam.Adam",
    "a step before backward()",
    lambda: adam.Adam([torch.zeros(2, requires_grad=True)], lr=0.1).step(),
    raises=r"params \[0\] have no gradient: call backward\(\) before step\(\)",
)
bad_arguments("schedules.constant", schedules.constant, {"beta": 1.0}, BAD_NON_NEGATIVE, ["beta"])
bad_arguments(
    "schedules.linear_warmup",
    schedules.linear_warmup,
    {"warmup_steps": 10},
    BAD_COUNT,
    ["warmup_steps"],
)
bad_arguments(
    "schedules.linear_warmup",
    schedules.linear_warmup,
    {"warmup_steps": 10},
    BAD_NON_NEGATIVE,
    ["target"],
)
bad_arguments("schedules.cyclical", schedules.cyclical, {"period": 10}, BAD_COUNT, ["period"])
bad_arguments(
    "schedules.cyclical",
    schedules.cyclical,
    {"period": 10},
    BAD_POSITIVE | {"above one": 1.5},
    ["ratio"],
)
case(
    "schedules.cyclical",
    "numpy numbers",
    lambda: schedules.cyclical(np.int64(4), np.float32(0.5))(1),
    check=close(0.5),
)

# ---------------------------------------------------------------- models

X = data.load_digits()[0][:32]


def tiny(seed=0, cls=None, **kwargs):
    torch.manual_seed(seed)
    return (cls or vae.VAE)(**({"z_dim": 2, "hidden": (8,)} | kwargs))


BAD_IMAGES = {
    "empty (a filter that selects nothing)": X[:0],
    "None": None,
    "numpy": X.numpy(),
    "an integer tensor": X.long(),
    "NaN pixels": torch.full_like(X, math.nan),
    "one image without its batch axis": X[0],
    "the wrong width": X[:, :10],
    "pixels above 1 for Bernoulli": X * 2,
}
bad_arguments(
    "vae.VAE",
    vae.VAE,
    {},
    {k: v for k, v in BAD_COUNT.items() if k != "a string"},
    ["x_dim", "z_dim"],
)
bad_arguments("vae.VAE", vae.VAE, {}, BAD_POSITIVE, ["sigma2"])
bad_arguments(
    "vae.VAE", vae.VAE, {}, {"zero units": (0,), "a float": (1.5,), "a bool": (True,)}, ["hidden"]
)
case(
    "vae.VAE", "likelihood = 'poisson'", lambda: vae.VAE(likelihood="poisson"), raises="likelihood"
)
case(
    "vae.VAE.sample",
    "n = 0",
    lambda: tiny().sample(0),
    raises=r"\bn\b",
)
case(
    "vae.VAE.log_importance_weights",
    "k = True",
    lambda: tiny().log_importance_weights(X, True),
    raises=r"\bk\b",
)
bad_arguments(
    "vae.VAE.elbo_terms",
    lambda x: tiny().elbo_terms(x),
    {"x": X},
    BAD_IMAGES,
    ["x"],
)
case(
    "vae.VAE.elbo_terms",
    "float64 data",
    lambda: tiny().elbo_terms(X.double())[1],
    check=lambda out: out.dtype == torch.float32 and torch.isfinite(out).all(),
)

TRAIN = {"epochs": 1, "batch_size": 16}
bad_arguments(
    "vae.train_vae", lambda **kw: vae.train_vae(tiny(), **kw), {"x": X} | TRAIN, BAD_IMAGES, ["x"]
)
bad_arguments(
    "vae.train_vae",
    lambda **kw: vae.train_vae(tiny(), X, **kw),
    TRAIN,
    BAD_COUNT,
    ["epochs", "batch_size"],
)
bad_arguments(
    "vae.train_vae", lambda **kw: vae.train_vae(tiny(), X, **kw), TRAIN, BAD_POSITIVE, ["lr"]
)
bad_arguments(
    "vae.train_vae",
    lambda **kw: vae.train_vae(tiny(), X, **kw),
    TRAIN,
    BAD_NON_NEGATIVE,
    ["free_bits"],
)
bad_arguments(
    "vae.train_vae", lambda **kw: vae.train_vae(tiny(), X, **kw), TRAIN, BAD_SEED, ["seed"]
)
case(
    "vae.train_vae",
    "beta = NaN",
    lambda: vae.train_vae(tiny(), X, **TRAIN, beta=math.nan),
    raises="beta",
)
case(
    "vae.train_vae",
    "a last step that diverges (lr = 10, one step)",
    lambda: vae.train_vae(
        tiny(hidden=(32,), z_dim=4), data.load_digits()[0][:256], epochs=1, batch_size=256, lr=10.0
    ),
    raises="diverged at step 0",
)
case(
    "vae.train_vae",
    "lr beyond its limit",
    lambda: vae.train_vae(tiny(), X, epochs=2, batch_size=32, lr=1e30),
    raises=r"\blr\b.*at most",
)
case(
    "vae.train_vae",
    "float64 data trains the float32 model",
    lambda: vae.train_vae(tiny(), X.double(), **TRAIN)["elbo"],
    check=close(vae.train_vae(tiny(), X, **TRAIN)["elbo"]),
)
case(
    "vae.train_vae",
    "data that requires grad",
    lambda: vae.train_vae(tiny(), X.clone().requires_grad_(), **TRAIN)["elbo"],
    check=close(vae.train_vae(tiny(), X, **TRAIN)["elbo"]),
)
case(
    "vae.reparameterize",
    "NaN mu",
    lambda: vae.reparameterize(torch.tensor([math.nan]), torch.zeros(1), torch.ones(1)),
    raises=r"\bmu\b",
)
case(
    "vae.reparameterize",
    "numpy beside torch",
    lambda: vae.reparameterize(np.array([1.0]), torch.tensor([math.log(4.0)]), np.array([0.5])),
    check=close([2.0]),
)
case(
    "vae.negative_elbo",
    "NaN reconstruction",
    lambda: vae.negative_elbo(torch.tensor([math.nan]), torch.zeros(1, 2)),
    raises="reconstruction",
)
bad_arguments(
    "vae.negative_elbo",
    vae.negative_elbo,
    {"reconstruction": torch.zeros(2), "kl": torch.ones(2, 3)},
    BAD_NON_NEGATIVE,
    ["beta", "free_bits"],
)
case(
    "vae.negative_elbo",
    "the closed form",
    lambda: vae.negative_elbo(
        torch.tensor([-3.0, -5.0]), torch.tensor([[0.1, 2.0], [0.3, 0.0]]), 2.0, 0.5
    ),
    check=close(2.0 * (0.5 + 1.0) + 4.0, rel=1e-6),
)
for label, logits in (("+inf", math.inf), ("-inf", -math.inf), ("NaN", math.nan)):
    case(
        "vae.bernoulli_log_likelihood",
        f"logits {label}",
        lambda logits=logits: vae.bernoulli_log_likelihood(torch.ones(1), torch.tensor([logits])),
        raises="logits",
    )
case(
    "vae.bernoulli_log_likelihood",
    "x = 2",
    lambda: vae.bernoulli_log_likelihood(torch.tensor([2.0]), torch.zeros(1)),
    raises=r"\bx\b",
)
case(
    "vae.bernoulli_log_likelihood",
    "logits ±30: torch.distributions",
    lambda: vae.bernoulli_log_likelihood(torch.tensor([1.0, 0.0]), torch.tensor([30.0, 30.0])),
    check=close(
        float(
            Bernoulli(logits=torch.tensor([30.0, 30.0])).log_prob(torch.tensor([1.0, 0.0])).sum()
        ),
        rel=1e-6,
    ),
)
for label, bad in BAD_IMAGES.items():
    if label != "pixels above 1 for Bernoulli":
        case(
            "data.check_images",
            label,
            lambda bad=bad: data.check_images(bad, "images", 64),
            raises=r"\bimages\b",
        )
bad_arguments(
    "made.MADE",
    lambda **kw: made.MADE(**({"x_dim": 6, "z_dim": 2} | kw)),
    {},
    {k: v for k, v in BAD_COUNT.items() if k != "a string"},
    ["x_dim", "z_dim"],
)
case("made.MADE", "hidden = (0,)", lambda: made.MADE(6, 2, (0,)), raises="hidden")
case("made.MADEVAE", "hidden = (-4,)", lambda: made.MADEVAE(hidden=(-4,)), raises="hidden")
case("made.MADEVAE", "z_dim = True", lambda: made.MADEVAE(z_dim=True), raises="z_dim")
case(
    "made.MaskedLinear",
    "a 1-D mask",
    lambda: made.MaskedLinear(torch.ones(3)),
    raises="mask",
)
case(
    "made.MaskedLinear",
    "a mask with a 2",
    lambda: made.MaskedLinear(torch.full((2, 3), 2.0)),
    raises="mask",
)

# ---------------------------------------------------------------- diagnostics, rate-distortion

MODEL_FUNCTIONS = {
    "evaluate_elbo": lambda m, x: diagnostics.evaluate_elbo(m, x, n_samples=2)["elbo"],
    "importance_log_likelihood": lambda m, x: diagnostics.importance_log_likelihood(m, x, k=4),
    "amortization_gap": lambda m, x: diagnostics.amortization_gap(m, x, steps=2, n_eval=4)["gap"],
    "inference_gaps": lambda m, x: diagnostics.inference_gaps(m, x, k=4, steps=2, n_eval=4)[
        "approximation_gap"
    ],
    "kl_per_dimension": diagnostics.kl_per_dimension,
    "active_units": diagnostics.active_units,
    "elbo_surgery": lambda m, x: diagnostics.elbo_surgery(m, x, n_samples=2)["marginal_kl"],
}
for name, function in MODEL_FUNCTIONS.items():
    for label, bad in BAD_IMAGES.items():
        case(
            f"diagnostics.{name}",
            f"x {label}",
            lambda f=function, bad=bad: f(tiny(), bad),
            raises=r"\bx\b",
        )
    case(
        f"diagnostics.{name}",
        "float64 data: the float32 answer",
        lambda f=function: f(tiny(), X.double()),
        check=close(function(tiny(), X), rel=1e-6),
    )
for name, count in (
    ("evaluate_elbo", "n_samples"),
    ("importance_log_likelihood", "k"),
    ("amortization_gap", "steps"),
    ("amortization_gap", "n_samples"),
    ("amortization_gap", "n_eval"),
    ("elbo_surgery", "n_samples"),
):
    bad_arguments(
        f"diagnostics.{name}",
        lambda name=name, **kw: getattr(diagnostics, name)(tiny(), X[:4], **kw),
        {},
        BAD_COUNT,
        [count],
    )
    bad_arguments(
        f"diagnostics.{name}",
        lambda name=name, **kw: getattr(diagnostics, name)(tiny(), X[:4], **kw),
        {},
        BAD_SEED,
        ["seed"],
    )
bad_arguments(
    "diagnostics.amortization_gap",
    lambda **kw: diagnostics.amortization_gap(tiny(), X[:4], steps=1, **kw),
    {},
    BAD_POSITIVE,
    ["lr"],
)
case(
    "diagnostics.amortization_gap",
    "lr as a numpy float32",
    lambda: diagnostics.amortization_gap(tiny(), X[:4], steps=2, n_eval=4, lr=np.float32(0.01))[
        "gap"
    ],
    check=lambda out: bool((out >= 0).all()),
)
bad_arguments(
    "diagnostics.active_units",
    lambda **kw: diagnostics.active_units(tiny(), X[:4], **kw),
    {},
    BAD_NON_NEGATIVE,
    ["threshold"],
)
case(
    "diagnostics.linear_gaussian_log_likelihood",
    "an MLP model",
    lambda: diagnostics.linear_gaussian_log_likelihood(tiny(), X),
    raises="model",
)
for label, bad in BAD_IMAGES.items():
    if label != "pixels above 1 for Bernoulli":
        case(
            "diagnostics.linear_gaussian_log_likelihood",
            f"x {label}",
            lambda bad=bad: diagnostics.linear_gaussian_log_likelihood(
                tiny(hidden=(), likelihood="gaussian"), bad
            ),
            raises=r"\bx\b",
        )
        case(
            "data.edge_energy",
            label,
            lambda bad=bad: data.edge_energy(bad),
            raises="images",
        )
case(
    "data.edge_energy",
    "a tensor that requires grad: the closed form",
    lambda: data.edge_energy(torch.eye(8).reshape(1, 64).requires_grad_()),
    check=close(2 * 14.0),
)
MU = torch.tensor([[1.0, -0.5], [0.3, 0.2]], dtype=torch.float64)
case(
    "diagnostics.log_aggregate_posterior",
    "log-variances of -40: no cancellation",
    lambda: diagnostics.log_aggregate_posterior(
        MU[:1], MU[:1], torch.full((1, 2), -40.0, dtype=torch.float64)
    ),
    check=close(-0.5 * (2 * math.log(2 * math.pi) - 80.0)),
)
case(
    "diagnostics.log_aggregate_posterior",
    "NaN in z",
    lambda: diagnostics.log_aggregate_posterior(torch.full((1, 2), math.nan), MU, MU),
    raises=r"\bz\b",
)
case(
    "diagnostics.log_aggregate_posterior",
    "mu and logvar of different shapes",
    lambda: diagnostics.log_aggregate_posterior(MU, MU, MU[:1]),
    raises="logvar",
)
case(
    "diagnostics.log_aggregate_posterior",
    "no components",
    lambda: diagnostics.log_aggregate_posterior(MU, MU[:0], MU[:0]),
    raises="mu",
)

for label, bad in BAD_IMAGES.items():
    case(
        "rate_distortion.rate_distortion",
        f"x {label}",
        lambda bad=bad: rate_distortion.rate_distortion(tiny(), bad),
        raises=r"\bx\b",
    )
    if label == "the wrong width":
        continue  # a width of its own trains a VAE of that width (beta_sweep: x_test is named)
    case(
        "rate_distortion.train_beta_vae",
        f"x {label}",
        lambda bad=bad: rate_distortion.train_beta_vae(1.0, bad, hidden=(8,), epochs=1),
        raises=r"\bx\b",
    )
    for which in ("x_train", "x_test"):
        case(
            "rate_distortion.beta_sweep",
            f"{which} {label}",
            lambda bad=bad, which=which: rate_distortion.beta_sweep(
                [1.0], **({"x_train": X, "x_test": X} | {which: bad}), hidden=(8,), epochs=1
            ),
            raises=rf"\b{which}\b",
        )
case(
    "rate_distortion.beta_sweep",
    "x_test narrower than x_train",
    lambda: rate_distortion.beta_sweep([1.0], X, X[:, :10], hidden=(8,), epochs=1),
    raises="x_test",
)
bad_arguments(
    "rate_distortion.train_beta_vae",
    lambda **kw: rate_distortion.train_beta_vae(x=X, hidden=(8,), epochs=1, **kw),
    {"beta": 1.0},
    BAD_NON_NEGATIVE,
    ["beta"],
)
for label, betas in (("empty", []), ("negative", [-1.0]), ("NaN", [math.nan]), ("None", None)):
    case(
        "rate_distortion.beta_sweep",
        f"betas {label}",
        lambda betas=betas: rate_distortion.beta_sweep(betas, X, X, hidden=(8,), epochs=1),
        raises="betas",
    )


def no_warning_and_coloured(function):
    """Draws without a warning and with every point coloured (a finite colour value)."""

    def run():
        axes = ax()
        function(axes)
        values = axes.collections[0].get_array()
        return values

    return run


case(
    "rate_distortion.plot_rate_distortion",
    "β = 0: drawn in the lowest colour",
    no_warning_and_coloured(
        lambda a: rate_distortion.plot_rate_distortion(a, [1.0, 2.0], [3.0, 2.0], [0.0, 1.0])
    ),
    check=lambda values: np.all(np.isfinite(values)) and values[0] == -2,
)
for name in ("rate", "distortion", "beta"):
    values = {"rate": [1.0], "distortion": [2.0], "beta": [1.0]} | {name: [math.nan]}
    case(
        "rate_distortion.plot_rate_distortion",
        f"{name} NaN",
        lambda values=values: rate_distortion.plot_rate_distortion(ax(), **values),
        raises=rf"\b{name}\b",
    )
case(
    "rate_distortion.plot_units_against_beta",
    "NaN in kl_per_dimension",
    lambda: rate_distortion.plot_units_against_beta(ax(), [1.0], [[math.nan, 1.0]], [1]),
    raises="kl_per_dimension",
)

# ---------------------------------------------------------------- collapse

bad_arguments(
    "collapse.training_plan",
    collapse.training_plan,
    {"remedy": "warm-up", "steps": 100},
    {k: v for k, v in BAD_COUNT.items() if k != "zero"},
    ["steps"],
)
bad_arguments(
    "collapse.training_plan",
    collapse.training_plan,
    {"remedy": "free bits", "steps": 100},
    BAD_NON_NEGATIVE,
    ["free_bits", "beta"],
)
case(
    "collapse.training_plan",
    "remedy = None",
    lambda: collapse.training_plan(None, 10),
    raises="remedy",
)
case("collapse.make_model", "decoder = 'CNN'", lambda: collapse.make_model("CNN"), raises="decoder")
bad_arguments("collapse.make_model", collapse.make_model, {"decoder": "MLP"}, BAD_SEED, ["seed"])
case(
    "collapse.collapse_run",
    "decoder = 'CNN'",
    lambda: collapse.collapse_run("CNN", "constant", X, X, seed=0, epochs=1, lr=0.1, k=2),
    raises="decoder",
)
case(
    "collapse.collapse_run",
    "an empty x_test",
    lambda: collapse.collapse_run("MLP", "constant", X, X[:0], seed=0, epochs=1, lr=0.1, k=2),
    raises=r"\bx",
)
case(
    "collapse.collapse_study",
    "config = 'slow'",
    lambda: collapse.collapse_study(X, X, "slow"),
    raises="config",
)
case("collapse.summarize", "no rows", lambda: collapse.summarize([]), check=lambda out: out == [])
case(
    "collapse.format_table",
    "an empty table: the header alone",
    lambda: collapse.format_table([]),
    check=lambda out: out.startswith("decoder") and "\n" not in out,
)
for function in (collapse.plot_kl_over_training, collapse.plot_kl_per_unit):
    case(
        f"collapse.{function.__name__}",
        "no rows",
        lambda f=function: f(ax(), []),
        raises="rows",
    )

# ---------------------------------------------------------------- plots and widgets

PLOT_CALLS = {
    "jensen_chord": (plots.jensen_chord, {"sigma": 1.0, "eps": np.zeros(3)}, ["sigma", "eps"]),
    "jensen_gap_curve": (plots.jensen_gap_curve, {"sigma": 1.0}, ["sigma"]),
    "log_weights": (
        plots.log_weights,
        {"model": MODEL, "x": 1.0, "qs": {"q": (0.0, 1.0)}},
        ["x"],
    ),
    "prior_q_posterior": (
        plots.prior_q_posterior,
        {"model": MODEL, "x": 1.0, "mu": 0.0, "s2": 1.0},
        ["x", "mu", "s2"],
    ),
    "elbo_gap_bar": (
        plots.elbo_gap_bar,
        {"log_evidence": -1.0, "elbo": -2.0},
        ["log_evidence", "elbo"],
    ),
    "elbo_and_kl_against_mean": (
        plots.elbo_and_kl_against_mean,
        {"model": MODEL, "x": 1.0, "s2": 0.5, "mus": np.linspace(-1, 1, 5)},
        ["x", "s2", "mus"],
    ),
    "mc_convergence": (
        plots.mc_convergence,
        {"n_samples": [1, 10], "estimates": [0.5, 0.6], "std_errors": [0.1, 0.03], "exact": 0.6},
        ["n_samples", "estimates", "std_errors", "exact"],
    ),
    "kl_map": (plots.kl_map, {"mu": 0.5, "s2": 1.0}, ["mu", "s2"]),
    "q_and_prior": (plots.q_and_prior, {"mu": 0.5, "s2": 1.0}, ["mu", "s2"]),
    "elbo_landscape": (plots.elbo_landscape, {"model": MODEL, "x": 1.0}, ["x"]),
    "prior_likelihood_posterior": (
        plots.prior_likelihood_posterior,
        {"model": MODEL, "x": 1.0},
        ["x"],
    ),
    "latent_scatter": (
        plots.latent_scatter,
        {"z": np.zeros((3, 2)), "labels": [0, 1, 2]},
        ["z", "labels"],
    ),
    "mixture_fits": (
        plots.mixture_fits,
        {"grid": GRID, "log_p": LOG_P, "fits": {"fit": (0.0, 1.0)}},
        ["grid", "log_p"],
    ),
    "fits_against_separation": (
        plots.fits_against_separation,
        {"separations": [1.0, 2.0], "fits": {"fit": [(0.0, 1.0), (0.5, 1.0)]}},
        ["separations"],
    ),
    "gaussian_ellipses": (
        plots.gaussian_ellipses,
        {"mean": np.zeros(2), "covs": {"p": COV}},
        ["mean"],
    ),
}
VAE_PLOT_CALLS = {
    "image_grid": (vae_plots.image_grid, {"images": X[:3]}, ["images"]),
    "training_curve": (vae_plots.training_curve, {"history": {"elbo": [-90.0, -80.0]}}, []),
    "iwae_against_k": (
        vae_plots.iwae_against_k,
        {
            "ks": [1, 10],
            "log_likelihoods": [-90.0, -89.0],
            "amortized_elbo": -91.0,
            "refined_elbo": -90.5,
        },
        ["ks", "log_likelihoods", "amortized_elbo", "refined_elbo"],
    ),
    "gap_bars": (
        vae_plots.gap_bars,
        {"log_likelihood": -88.0, "refined_elbo": -89.0, "amortized_elbo": -90.0},
        ["log_likelihood", "refined_elbo", "amortized_elbo"],
    ),
    "aggregate_posterior": (
        vae_plots.aggregate_posterior,
        {"z": np.zeros((3, 2)), "labels": [0, 1, 2]},
        ["z", "labels"],
    ),
    "surgery_bar": (
        vae_plots.surgery_bar,
        {"surgery": {"mutual_information": 1.0, "marginal_kl": 0.2, "average_kl": 1.2}, "n": 100},
        [],
    ),
    "surgery_against_beta": (
        vae_plots.surgery_against_beta,
        {
            "betas": [0.5, 1.0],
            "results": [{"mutual_information": 1.0, "marginal_kl": 0.2, "average_kl": 1.2}] * 2,
            "n": 100,
        },
        ["betas"],
    ),
}
for module, table in (("plots", PLOT_CALLS), ("vae_plots", VAE_PLOT_CALLS)):
    for name, (function, valid, arrays) in table.items():
        bad_arguments(
            f"{module}.{name}",
            lambda f=function, **kw: f(ax(), **kw),
            valid,
            {"NaN": math.nan, "None": None, "a string": "1"},
            arrays,
        )
        case(f"{module}.{name}", "valid input draws", lambda f=function, v=valid: f(ax(), **v))
case(
    "vae_plots.training_curve",
    "no epochs",
    lambda: vae_plots.training_curve(ax(), {"elbo": []}),
    raises="history",
)
case(
    "vae_plots.training_curve",
    "NaN in the history",
    lambda: vae_plots.training_curve(ax(), {"elbo": [math.nan]}),
    raises="history",
)
case(
    "vae_plots.surgery_bar",
    "n = 0",
    lambda: vae_plots.surgery_bar(ax(), VAE_PLOT_CALLS["surgery_bar"][1]["surgery"], 0),
    raises=r"\bn\b",
)
case(
    "vae_plots.image_grid",
    "ncols = 0",
    lambda: vae_plots.image_grid(ax(), X[:3], ncols=0),
    raises="ncols",
)
case(
    "vae_plots.image_grid",
    "no images",
    lambda: vae_plots.image_grid(ax(), X[:0]),
    raises="images",
)
case(
    "vae_plots.gap_explorer",
    "no images",
    lambda: vae_plots.gap_explorer(X[:0], {}),
    raises="images",
)
case(
    "vae_plots.gap_explorer",
    "gaps without log_likelihood",
    lambda: vae_plots.gap_explorer(X[:2], {"refined_elbo": [1.0, 2.0]}),
    raises="gaps",
)

for function in (widgets.float_slider, widgets.log_slider):
    case(
        f"widgets.{function.__name__}",
        "low above high",
        lambda f=function: f("s", 2.0, 1.0, 1.5),
        raises="low",
    )
    case(
        f"widgets.{function.__name__}",
        "value outside [low, high]",
        lambda f=function: f("s", 0.1, 1.0, 5.0),
        raises="value",
    )
    case(
        f"widgets.{function.__name__}",
        "NaN value",
        lambda f=function: f("s", 0.1, 1.0, math.nan),
        raises="value",
    )
case("widgets.log_slider", "low = 0", lambda: widgets.log_slider("s", 0.0, 1.0, 0.5), raises="low")
case(
    "widgets.value_range",
    "a log slider: its ends in values",
    lambda: widgets.value_range(widgets.log_slider("s", 0.01, 10.0, 1.0)),
    check=close([0.01, 10.0], rel=1e-12),
)
case(
    "widgets.value_range",
    "not a slider",
    lambda: widgets.value_range(3.0),
    raises="slider",
)


def nan_on_a_slider():
    explorer = widgets.jensen_explorer()
    before = explorer.image.value
    try:
        explorer.sliders["sigma"].value = math.nan
    finally:
        assert explorer.sliders["sigma"].value == 1.2 and explorer.image.value == before


case("widgets.SliderFigure", "NaN set on a slider from code", nan_on_a_slider, raises="sigma")
case(
    "widgets.SliderFigure",
    "draw = None",
    lambda: widgets.SliderFigure(None, {}),
    raises="draw",
)
bad_arguments("widgets.jensen_explorer", widgets.jensen_explorer, {}, BAD_SEED, ["seed"])
bad_arguments(
    "widgets.kl_identity_explorer",
    widgets.kl_identity_explorer,
    {"model": MODEL, "x": 1.0},
    NOT_NUMBERS | {"inf": math.inf},
    ["x"],
)
case(
    "widgets.kl_identity_explorer",
    "model = None",
    lambda: widgets.kl_identity_explorer(None, 1.0),
    raises="model",
)
bad_arguments(
    "ascent.kl_descent", ascent.kl_descent, {"mean": 0.5, "var": 1.0}, BAD_FINITE, ["mean"]
)
bad_arguments(
    "ascent.kl_descent", ascent.kl_descent, {"mean": 0.5, "var": 1.0}, BAD_POSITIVE, ["var"]
)
bad_arguments(
    "ascent.elbo_ascent",
    ascent.elbo_ascent,
    {"model": MODEL, "x": 1.0},
    {k: v for k, v in BAD_COUNT.items() if k != "zero"},
    ["steps"],
)
case(
    "ascent.elbo_ascent",
    "x = inf",
    lambda: ascent.elbo_ascent(MODEL, math.inf),
    raises=r"\bx\b",
)
for name in (
    "kl_map_explorer",
    "elbo_landscape_explorer",
    "mode_seeking_explorer",
    "factorised_fit_explorer",
):

    def every_slider_end(name=name):
        """Every slider at both ends of its range redraws a frame."""
        explorer = getattr(widgets, name)()
        for slider in explorer.sliders.values():
            for end in widgets.value_range(slider):
                slider.value = end
                assert explorer.image.value[:4] == b"\x89PNG"
        return explorer

    case(f"widgets.{name}", "every slider at both ends", every_slider_end)


def beta_widget_at_zero():
    widget = beta_widget.BetaWidget(X, X[:16], torch.arange(16) % 10, betas=(0.0,), epochs=1)
    return widget.points


case(
    "beta_widget.BetaWidget",
    "β = 0 trains and is plotted",
    beta_widget_at_zero,
    check=lambda points: points[0][0] == 0.0 and all(math.isfinite(v) for v in points[0]),
)
case(
    "beta_widget.BetaWidget",
    "an empty x_test",
    lambda: beta_widget.BetaWidget(X, X[:0], torch.arange(0), epochs=1),
    raises="x_test",
)
case(
    "beta_widget.BetaWidget",
    "β = -1",
    lambda: beta_widget.BetaWidget(X, X[:16], torch.arange(16) % 10, betas=(-1.0,), epochs=1),
    raises="beta",
)


# ---------------------------------------------------------------- checks, estimators

case("checks.holds", "a true claim", lambda: checks.holds("c", np.ones(3) > 0))
case("checks.holds", "claim = None", lambda: checks.holds(None, True), raises="claim")
for label, bad in (("NaN", math.nan), ("None", None), ("a string", "yes")):
    case(
        "checks.holds",
        f"condition {label}",
        lambda bad=bad: checks.holds("c", bad),
        raises="condition",
    )
bad_arguments(
    "checks.close",
    checks.close,
    {"claim": "c", "actual": 1.0, "expected": 1.0, "tol": 1e-9},
    BAD_NON_NEGATIVE,
    ["tol"],
)


def claim_fails(check, *args):
    """``check(*args)`` raises the AssertionError of a claim that does not hold."""
    with pytest.raises(AssertionError, match="✗"):
        check(*args)


NOT_REAL = {k: v for k, v in NOT_NUMBERS.items() if k != "NaN"}  # NaN: the claim fails
bad_arguments(
    "checks.close",
    checks.close,
    {"claim": "c", "actual": 1.0, "expected": 1.0, "tol": 1e-9},
    NOT_REAL,
    ["actual", "expected"],
)
case(
    "checks.close",
    "actual NaN: the claim fails",
    lambda: claim_fails(checks.close, "c", math.nan, 1.0, 1e-9),
)
case(
    "checks.close",
    "shapes that do not broadcast",
    lambda: checks.close("c", np.zeros(3), np.zeros(4), 1e-9),
    raises="actual",
)
case("checks.close", "1e300 against itself", lambda: checks.close("c", 1e300, 1e300, 0.0))
SAMPLES = np.array([0.9, 1.1, 1.0, 0.95, 1.05])
bad_arguments(
    "checks.within_standard_errors",
    checks.within_standard_errors,
    {"claim": "c", "samples": SAMPLES, "expected": 1.0},
    NOT_NUMBERS,
    ["samples", "expected"],
)
bad_arguments(
    "checks.within_standard_errors",
    checks.within_standard_errors,
    {"claim": "c", "samples": SAMPLES, "expected": 1.0},
    BAD_POSITIVE,
    ["k"],
)
for label, samples in (("one draw", SAMPLES[:1]), ("no spread", np.ones(5))):
    case(
        "checks.within_standard_errors",
        label,
        lambda samples=samples: checks.within_standard_errors("c", samples, 1.0),
        raises="samples",
    )
case(
    "checks.within_standard_errors",
    "expected of the wrong shape",
    lambda: checks.within_standard_errors("c", np.ones((5, 2)) + SAMPLES[:, None], np.ones(3)),
    raises="expected",
)
case(
    "checks.within_standard_errors",
    "a torch sample that requires grad",
    lambda: checks.within_standard_errors("c", torch.tensor(SAMPLES, requires_grad=True), 1.0),
)
bad_arguments(
    "checks.near",
    checks.near,
    {"claim": "c", "estimate": 1.0, "expected": 1.0, "standard_error": 0.1},
    NOT_REAL,
    ["estimate", "expected"],
)
bad_arguments(
    "checks.near",
    checks.near,
    {"claim": "c", "estimate": 1.0, "expected": 1.0, "standard_error": 0.1},
    NOT_NUMBERS | {k: v for k, v in BAD_POSITIVE.items() if k not in ("a bool", "a list")},
    ["standard_error"],
)
case(
    "checks.near",
    "estimate NaN: the claim fails",
    lambda: claim_fails(checks.near, "c", math.nan, 1.0, 0.1),
)
bad_arguments(
    "checks.near",
    checks.near,
    {"claim": "c", "estimate": 1.0, "expected": 1.0, "standard_error": 0.1},
    BAD_POSITIVE,
    ["k"],
)
case(
    "checks.near",
    "shapes that do not broadcast",
    lambda: checks.near("c", np.zeros(3), np.zeros(2), 0.1),
    raises="estimate",
)
bad_arguments(
    "checks.jensen_gap_standard_error",
    checks.jensen_gap_standard_error,
    {"log_y": np.zeros(3)},
    NOT_NUMBERS | {"inf": [0.0, math.inf], "one draw": [0.0], "2-D": np.zeros((2, 2))},
    ["log_y"],
)
LOG_Y = np.array([-1e4, -1e4 + 1.0, -1e4 + 3.0])  # Y underflows; the ratios Y_i / mean Y do not
case(
    "checks.jensen_gap_standard_error",
    "log Y near -1e4: the delta method in mpmath",
    lambda: checks.jensen_gap_standard_error(LOG_Y),
    check=close(
        float(
            (lambda r: mpmath.sqrt(sum((v - sum(r) / 3) ** 2 for v in r) / 2 / 3))(
                [
                    mpmath.exp(v) / (sum(mpmath.exp(w) for w in LOG_Y) / 3) - v
                    for v in map(mpmath.mpf, LOG_Y)
                ]
            )
        ),
        rel=1e-9,
    ),
)
bad_arguments("checks.estimate", checks.estimate, {"value": 1.0}, NOT_NUMBERS, ["value"])
bad_arguments(
    "checks.estimate",
    checks.estimate,
    {"value": 1.0},
    {k: v for k, v in BAD_COUNT.items() if k != "zero"},
    ["digits"],
)
case(
    "checks.estimate",
    "-0.004 to two digits",
    lambda: checks.estimate(18.214),
    check=lambda s: s == "≈ 18.21",
)


def square(z):
    return z**2


ESTIMATOR_ARGS = {"f": square, "mu": 1.0, "var": 1.0, "n_samples": 4}
for name in ("score_function_gradients", "pathwise_gradients"):
    function = getattr(estimators, name)
    bad_arguments(f"estimators.{name}", function, ESTIMATOR_ARGS, BAD_FINITE, ["mu"])
    bad_arguments(f"estimators.{name}", function, ESTIMATOR_ARGS, BAD_POSITIVE, ["var"])
    bad_arguments(f"estimators.{name}", function, ESTIMATOR_ARGS, BAD_COUNT, ["n_samples"])
    bad_arguments(f"estimators.{name}", function, ESTIMATOR_ARGS, BAD_SEED, ["seed"])
    bad_arguments(
        f"estimators.{name}",
        function,
        ESTIMATOR_ARGS,
        {
            "None": None,
            "a number": 1.0,
            "a function to a number": lambda z: 1.0,
            "a function to NaN": lambda z: z * math.nan,
            "a function of the wrong shape": lambda z: z[:1],
        },
        ["f"],
    )
    case(
        f"estimators.{name}",
        "mu a tensor that requires grad: the float answer",
        lambda f=function: f(square, torch.tensor(1.0, requires_grad=True), np.float32(2.0), 8),
        check=close(function(square, 1.0, 2.0, 8)),
    )
bad_arguments(
    "estimators.score_function_gradients",
    estimators.score_function_gradients,
    ESTIMATOR_ARGS,
    BAD_FINITE,
    ["baseline"],
)
case(
    "estimators.score_function_gradients",
    "var = 1e-300, f(z) = z: the estimates are eps² and (eps² - 1) eps / 2 · 1e-150",
    lambda: estimators.score_function_gradients(lambda z: z, 0.0, 1e-300, 4000)[:, 0].mean(),
    check=lambda m: abs(m - 1.0) < 5 * math.sqrt(2 / 4000),
)
case(
    "estimators.pathwise_gradients",
    "var = 1e300, f(z) = z: ∂/∂μ is exactly 1",
    lambda: estimators.pathwise_gradients(lambda z: z, 0.0, 1e300, 16)[:, 0],
    check=close(np.ones(16)),
)
case(
    "estimators.pathwise_gradients",
    "f without a gradient",
    lambda: estimators.pathwise_gradients(lambda z: z.detach(), 0.0, 1.0, 4),
    raises=r"\bf\b",
)
NORMAL_SAMPLE = np.random.default_rng(0).normal(size=(50, 2))
for name in ("mean_and_standard_error", "variance_and_standard_error"):
    bad_arguments(
        f"checks.{name}",
        getattr(checks, name),
        {"values": NORMAL_SAMPLE},
        NOT_NUMBERS | {"inf": [1.0, math.inf], "one row": [[1.0, 2.0]], "empty": []},
        ["values"],
    )
case(
    "checks.mean_and_standard_error",
    "scipy.stats.sem",
    lambda: np.concatenate(checks.mean_and_standard_error(NORMAL_SAMPLE)),
    check=close(np.concatenate([NORMAL_SAMPLE.mean(0), stats.sem(NORMAL_SAMPLE)])),
)
case(
    "checks.mean_and_standard_error",
    "values near 1e300 and a torch tensor",
    lambda: np.hstack(
        checks.mean_and_standard_error(torch.tensor([1e300, 1e300], dtype=torch.float64))
    ),
    check=close([1e300, 0.0]),
)
case(
    "checks.variance_and_standard_error",
    "scipy.stats: the variance and sqrt((m4 - s^4) / n)",
    lambda: np.concatenate(checks.variance_and_standard_error(NORMAL_SAMPLE)),
    check=close(
        np.concatenate(
            [
                stats.tvar(NORMAL_SAMPLE, axis=0),
                np.sqrt(
                    (
                        stats.moment(NORMAL_SAMPLE, 4, axis=0)
                        - stats.tvar(NORMAL_SAMPLE, axis=0) ** 2
                    )
                    / 50
                ),
            ]
        ),
        rel=1e-10,
    ),
)

# ---------------------------------------------------------------- configs, training steps

for cls, valid in (
    (beta_widget.BetaVAEConfig, {}),
    (collapse.CollapseConfig, {"made_hidden": (8,), "epochs": 1, "lr": 0.1, "k": 2}),
):
    target = f"{cls.__module__.removeprefix('elbo_lib.')}.{cls.__name__}"
    counts = ["epochs", "k"] if cls is collapse.CollapseConfig else ["z_dim", "epochs"]
    bad_arguments(target, cls, valid, BAD_COUNT, counts)
    bad_arguments(target, cls, valid, BAD_POSITIVE, ["lr"])
    hidden = "made_hidden" if cls is collapse.CollapseConfig else "hidden"
    bad_arguments(
        target,
        cls,
        valid,
        {"zero units": (0,), "a float": (1.5,), "a bool": (True,), "None": None, "a list": [8]},
        [hidden],
    )
    case(target, "valid fields", lambda cls=cls, valid=valid: cls(**valid))
bad_arguments(
    "collapse.CollapseConfig",
    collapse.CollapseConfig,
    {"made_hidden": (8,), "epochs": 1, "lr": 0.1, "k": 2},
    {"empty": (), "a negative seed": (-1,), "a float": (1.5,), "None": None},
    ["seeds"],
)
case(
    "beta_widget.BetaVAEConfig",
    "replaced with a bad field",
    lambda: replace(beta_widget.MODEL, lr=math.nan),
    raises=r"\blr\b",
)
bad_arguments(
    "vae.training_steps",
    vae.training_steps,
    {"n": 100, "epochs": 2, "batch_size": 32},
    BAD_COUNT,
    ["n", "epochs", "batch_size"],
)
case(
    "vae.training_steps",
    "n = 10**20: exact integer arithmetic",
    lambda: vae.training_steps(10**20 + 1, 3, 7),
    check=lambda out: out == 3 * (-(-(10**20 + 1) // 7)),
)

# ---------------------------------------------------------------- collapse rows

ROWS = [
    {"decoder": "MADE", "remedy": "constant", "beta": 1.0, "kl": float(s), "seed": s}
    for s in range(3)
]
bad_arguments(
    "collapse.select",
    collapse.select,
    {"rows": ROWS, "decoder": "MADE", "remedy": "constant"},
    {"None": None, "a string": "rows", "not dicts": [1, 2], "dicts without keys": [{}]},
    ["rows"],
)
for name, bad in (("decoder", "CNN"), ("remedy", "dropout"), ("beta", math.nan), ("beta", -1.0)):
    case(
        "collapse.select",
        f"{name} = {bad!r}",
        lambda name=name, bad=bad: collapse.select(
            **({"rows": ROWS, "decoder": "MADE", "remedy": "constant"} | {name: bad})
        ),
        raises=rf"\b{name}\b",
    )
case(
    "collapse.select",
    "no run with this remedy",
    lambda: collapse.select(ROWS, "MADE", "warm-up"),
    raises="remedy",
)
case(
    "collapse.per_seed",
    "the runs in seed order",
    lambda: collapse.per_seed(ROWS, "MADE", "constant", "kl"),
    check=close([0.0, 1.0, 2.0]),
)
for label, bad in (("None", None), ("unknown", "accuracy")):
    case(
        "collapse.per_seed",
        f"metric {label}",
        lambda bad=bad: collapse.per_seed(ROWS, "MADE", "constant", bad),
        raises="metric",
    )
case(
    "collapse.per_seed",
    "rows None",
    lambda: collapse.per_seed(None, "MADE", "constant", "kl"),
    raises="rows",
)

# ---------------------------------------------------------------- posterior on a grid


def gaussian_grid(mean, cov, extent=7.0, n=141):
    """A posterior_on_grid dict holding N(mean, cov) (one image), normalised by quadrature."""
    axis = torch.linspace(-extent, extent, n, dtype=torch.float64)
    z2, z1 = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.stack([z1, z2], -1)
    log_p = torch.distributions.MultivariateNormal(
        torch.tensor(mean, dtype=torch.float64), torch.tensor(cov, dtype=torch.float64)
    ).log_prob(z)
    log_p = log_p - torch.logsumexp(log_p.flatten(), 0) - 2 * math.log(float(axis[1] - axis[0]))
    return {"z1": axis, "z2": axis, "log_posterior": log_p[None]}


G_MEAN, G_COV = [0.5, -1.0], [[1.0, 0.4], [0.4, 0.5]]
GRID_2 = gaussian_grid(G_MEAN, G_COV)
BAD_GRIDS = {
    "None": None,
    "a dict without log_posterior": {"z1": GRID_2["z1"], "z2": GRID_2["z2"]},
    "NaN in log_posterior": GRID_2 | {"log_posterior": GRID_2["log_posterior"] * math.nan},
    "+inf in log_posterior": GRID_2 | {"log_posterior": GRID_2["log_posterior"] + math.inf},
    "log_posterior of the wrong shape": GRID_2 | {"log_posterior": GRID_2["log_posterior"][:, 1:]},
    "a one-point axis": GRID_2 | {"z1": GRID_2["z1"][:1]},
}
for label, bad in BAD_GRIDS.items():
    case(
        "diagnostics.check_grid", label, lambda bad=bad: diagnostics.check_grid(bad), raises="grid"
    )
    case(
        "diagnostics.grid_posterior_moments",
        f"grid {label}",
        lambda bad=bad: diagnostics.grid_posterior_moments(bad),
        raises="grid",
    )
    case(
        "diagnostics.grid_kl_to_posterior",
        f"grid {label}",
        lambda bad=bad: diagnostics.grid_kl_to_posterior(bad, torch.zeros(1, 2), torch.zeros(1, 2)),
        raises="grid",
    )
case("diagnostics.check_grid", "a grid of float64 tensors", lambda: diagnostics.check_grid(GRID_2))
case(
    "diagnostics.check_grid",
    "one posterior for two images",
    lambda: diagnostics.check_grid(GRID_2, 2),
    raises="grid",
)
case(
    "diagnostics.grid_posterior_moments",
    "a Gaussian posterior: its mean and covariance",
    lambda: torch.cat([t.flatten() for t in diagnostics.grid_posterior_moments(GRID_2)]),
    check=close(np.concatenate([G_MEAN, np.ravel(G_COV)]), rel=0, abs=1e-8),
)
Q_MU, Q_LOGVAR = torch.tensor([[0.2, -0.5]]), torch.tensor([[0.1, -1.2]])
case(
    "diagnostics.grid_kl_to_posterior",
    "two Gaussians: torch.distributions",
    lambda: diagnostics.grid_kl_to_posterior(GRID_2, Q_MU.double(), Q_LOGVAR.double()),
    check=close(
        float(
            kl_divergence(
                torch.distributions.MultivariateNormal(
                    Q_MU[0].double(), torch.diag(Q_LOGVAR[0].double().exp())
                ),
                torch.distributions.MultivariateNormal(
                    torch.tensor(G_MEAN, dtype=torch.float64),
                    torch.tensor(G_COV, dtype=torch.float64),
                ),
            )
        ),
        rel=1e-7,
    ),
)
for name in ("mu", "logvar"):
    for label, bad in (
        ("NaN", torch.full((1, 2), math.nan)),
        ("None", None),
        ("the wrong shape", torch.zeros(2, 2)),
        ("a string", "0"),
    ):
        case(
            "diagnostics.grid_kl_to_posterior",
            f"{name} {label}",
            lambda name=name, bad=bad: diagnostics.grid_kl_to_posterior(
                GRID_2, **({"mu": Q_MU, "logvar": Q_LOGVAR} | {name: bad})
            ),
            raises=rf"\b{name}\b",
        )
case(
    "diagnostics.grid_kl_to_posterior",
    "logvar = -1e4 at a grid point: q a point mass, KL = -log of the posterior's cell mass",
    lambda: diagnostics.grid_kl_to_posterior(
        GRID_2,
        torch.stack([GRID_2["z1"][70], GRID_2["z2"][80]])[None],
        torch.full((1, 2), -1e4, dtype=torch.float64),
    ),
    check=close(
        -float(GRID_2["log_posterior"][0, 80, 70])
        - math.log(
            float(GRID_2["z1"][1] - GRID_2["z1"][0]) * float(GRID_2["z2"][1] - GRID_2["z2"][0])
        ),
        rel=1e-12,
    ),
)
case(
    "diagnostics.grid_kl_to_posterior",
    "logvar = -1e4 between grid points: no mass on the grid",
    lambda: diagnostics.grid_kl_to_posterior(
        GRID_2,
        torch.full((1, 2), 0.05, dtype=torch.float64),
        torch.full((1, 2), -1e4, dtype=torch.float64),
    ),
    raises="logvar",
)
LINEAR = tiny(hidden=(), likelihood="gaussian")
bad_arguments(
    "diagnostics.posterior_on_grid",
    lambda **kw: diagnostics.posterior_on_grid(LINEAR, X[:2], **kw),
    {},
    BAD_POSITIVE,
    ["extent"],
)
bad_arguments(
    "diagnostics.posterior_on_grid",
    lambda **kw: diagnostics.posterior_on_grid(LINEAR, X[:2], **kw),
    {},
    BAD_COUNT | {"one": 1},
    ["n"],
)
for label, bad in BAD_IMAGES.items():
    if label != "pixels above 1 for Bernoulli":
        case(
            "diagnostics.posterior_on_grid",
            f"x {label}",
            lambda bad=bad: diagnostics.posterior_on_grid(LINEAR, bad),
            raises=r"\bx\b",
        )
for label, model in (("None", None), ("a 3-D latent", tiny(z_dim=3)), ("a string", "VAE")):
    case(
        "diagnostics.posterior_on_grid",
        f"model {label}",
        lambda model=model: diagnostics.posterior_on_grid(model, X[:2]),
        raises="model",
    )
case(
    "diagnostics.posterior_on_grid",
    "a linear-Gaussian VAE: log p(x) in closed form",
    lambda: diagnostics.posterior_on_grid(LINEAR, X[:3].double(), extent=8.0, n=161)[
        "log_evidence"
    ],
    check=close(diagnostics.linear_gaussian_log_likelihood(LINEAR, X[:3]), rel=1e-5),
)

# ---------------------------------------------------------------- the new figures

ESTIMATES = {"score function": [1.5, 2.5, 2.0], "pathwise": [1.9, 2.1, 2.0]}
HIST = {"estimates": ESTIMATES, "exact": 2.0, "bins": np.linspace(0, 4, 9)}
bad_arguments(
    "plots.estimate_histograms",
    lambda **kw: plots.estimate_histograms(ax(), **kw),
    HIST,
    {
        "None": None,
        "empty": {},
        "NaN estimates": {"a": [1.0, math.nan]},
        "one estimate": {"a": [1.0]},
        "a string": "1",
    },
    ["estimates"],
)
bad_arguments(
    "plots.estimate_histograms",
    lambda **kw: plots.estimate_histograms(ax(), **kw),
    HIST,
    BAD_FINITE,
    ["exact"],
)
bad_arguments(
    "plots.estimate_histograms",
    lambda **kw: plots.estimate_histograms(ax(), **kw),
    HIST,
    NOT_NUMBERS | {"one edge": [1.0], "decreasing": [2.0, 1.0], "inf": [0.0, math.inf]},
    ["bins"],
)
case(
    "plots.estimate_histograms",
    "estimates far off the axis: counted",
    lambda: plots.estimate_histograms(ax(), {"a": [100.0, -100.0, 2.0]}, 2.0, [0.0, 4.0]),
)
SPREAD = {
    "n_samples": [1, 10, 100],
    "spreads": {"pathwise": [1.0, 0.3, 0.1]},
    "per_sample_variances": {"pathwise": 1.0},
}
bad_arguments(
    "plots.estimator_spread",
    lambda **kw: plots.estimator_spread(ax(), **kw),
    SPREAD,
    NOT_NUMBERS | {"zero": [0, 10, 100], "empty": []},
    ["n_samples"],
)
bad_arguments(
    "plots.estimator_spread",
    lambda **kw: plots.estimator_spread(ax(), **kw),
    SPREAD,
    {
        "None": None,
        "empty": {},
        "NaN": {"pathwise": [1.0, math.nan, 0.1]},
        "the wrong length": {"pathwise": [1.0]},
        "negative": {"pathwise": [1.0, -0.3, 0.1]},
    },
    ["spreads"],
)
bad_arguments(
    "plots.estimator_spread",
    lambda **kw: plots.estimator_spread(ax(), **kw),
    SPREAD,
    {
        "None": None,
        "a missing label": {},
        "NaN": {"pathwise": math.nan},
        "zero": {"pathwise": 0.0},
    },
    ["per_sample_variances"],
)
case("plots.estimator_spread", "valid input draws", lambda: plots.estimator_spread(ax(), **SPREAD))
MODE = {"means": np.linspace(-3, 3, 7), "kl": np.linspace(0, 1, 7), "costs": {"-log w": 0.7}}
bad_arguments(
    "plots.mode_costs",
    lambda **kw: plots.mode_costs(ax(), **kw),
    MODE,
    NOT_NUMBERS | {"the wrong length": [0.0, 1.0]},
    ["means", "kl"],
)
bad_arguments(
    "plots.mode_costs",
    lambda **kw: plots.mode_costs(ax(), **kw),
    MODE,
    {"None": None, "empty": {}, "NaN": {"a": math.nan}, "zero": {"a": 0.0}, "a string": {"a": "1"}},
    ["costs"],
)
case("plots.mode_costs", "valid input draws", lambda: plots.mode_costs(ax(), **MODE))

MODEL_2D = tiny()
bad_arguments(
    "vae_plots.traversal_images",
    lambda **kw: vae_plots.traversal_images(MODEL_2D, **kw),
    {"unit": 0, "values": [-1.0, 1.0]},
    {"None": None, "a bool": True, "a float": 0.5, "negative": -1, "too large": 2, "a string": "0"},
    ["unit"],
)
bad_arguments(
    "vae_plots.traversal_images",
    lambda **kw: vae_plots.traversal_images(MODEL_2D, **kw),
    {"unit": 0, "values": [-1.0, 1.0]},
    NOT_NUMBERS | {"inf": [0.0, math.inf], "2-D": [[0.0]], "empty": []},
    ["values"],
)
case(
    "vae_plots.traversal_images",
    "the origin: the decoder's output at z = 0",
    lambda: vae_plots.traversal_images(MODEL_2D, 1, [0.0]),
    check=close(MODEL_2D.decode(torch.zeros(1, 2)).sigmoid().detach().numpy()),
)
case(
    "vae_plots.traversal_images",
    "model = None",
    lambda: vae_plots.traversal_images(None, 0, [0.0]),
    raises="model",
)
bad_arguments(
    "vae_plots.latent_traversals",
    lambda **kw: vae_plots.latent_traversals(ax(), MODEL_2D, **kw),
    {"units": [0, 1], "values": [-1.0, 1.0]},
    {"empty": [], "None": None, "a bool": [True], "too large": [5]},
    ["units"],
)
bad_arguments(
    "vae_plots.latent_traversals",
    lambda **kw: vae_plots.latent_traversals(ax(), MODEL_2D, **kw),
    {"units": [0, 1], "values": [-1.0, 1.0]},
    NOT_NUMBERS | {"empty": []},
    ["values"],
)
case(
    "vae_plots.latent_traversals",
    "valid input draws",
    lambda: vae_plots.latent_traversals(ax(), MODEL_2D, [0, 1], np.linspace(-2, 2, 5)),
)
POSTERIOR_ARGS = {
    "z1": GRID_2["z1"],
    "z2": GRID_2["z2"],
    "log_posterior": GRID_2["log_posterior"][0],
    "mu": [0.0, 0.0],
    "logvar": [0.0, 0.0],
}
bad_arguments(
    "vae_plots.posterior_and_q",
    lambda **kw: vae_plots.posterior_and_q(ax(), **kw),
    POSTERIOR_ARGS,
    NOT_NUMBERS | {"inf": [math.inf, 0.0], "the wrong shape": [0.0, 0.0, 0.0]},
    ["z1", "z2", "log_posterior", "mu", "logvar"],
)
bad_arguments(
    "vae_plots.posterior_and_q",
    lambda **kw: vae_plots.posterior_and_q(ax(), **kw),
    POSTERIOR_ARGS,
    {
        "+inf": GRID_2["log_posterior"][0] + math.inf,
        "all -inf": GRID_2["log_posterior"][0] - math.inf,
    },
    ["log_posterior"],
)
bad_arguments(
    "vae_plots.posterior_and_q",
    lambda **kw: vae_plots.posterior_and_q(ax(), **kw),
    POSTERIOR_ARGS,
    {"a number": 1.0, "one array": ([0.0, 0.0],), "NaN": ([0.0, math.nan], [0.0, 0.0])},
    ["refined"],
)
case(
    "vae_plots.posterior_and_q",
    "q far narrower than a cell (logvar -1e4), refined as tensors that require grad",
    lambda: vae_plots.posterior_and_q(
        ax(),
        **(POSTERIOR_ARGS | {"logvar": [-1e4, -1e4]}),
        refined=(torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)),
    ),
)
for label, bad in (("None", None), ("a string", "fig"), ("an Axes", ax())):
    case(
        "vae_plots.posterior_legend",
        f"fig {label}",
        lambda bad=bad: vae_plots.posterior_legend(bad),
        raises="fig",
    )
case(
    "vae_plots.posterior_legend",
    "refined = None",
    lambda: vae_plots.posterior_legend(Figure(layout="constrained"), None),
    raises="refined",
)
case(
    "vae_plots.posterior_legend",
    "a figure: one key with two entries",
    lambda: (lambda fig: (vae_plots.posterior_legend(fig, False), fig)[1])(
        Figure(layout="constrained")
    ),
    check=lambda fig: len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 2,
)
MANIFOLD = np.full((3, 3, 64), 0.5)
bad_arguments(
    "vae_plots.latent_manifold",
    lambda **kw: vae_plots.latent_manifold(ax(), **kw),
    {"images": MANIFOLD, "extent": 2.0},
    NOT_NUMBERS
    | {
        "one tile": np.zeros((1, 1, 64)),
        "not square": np.zeros((2, 3, 64)),
        "the wrong width": np.zeros((2, 2, 10)),
        "pixels above 1": np.full((2, 2, 64), 2.0),
    },
    ["images"],
)
bad_arguments(
    "vae_plots.latent_manifold",
    lambda **kw: vae_plots.latent_manifold(ax(), **kw),
    {"images": MANIFOLD, "extent": 2.0},
    BAD_POSITIVE,
    ["extent"],
)
case(
    "vae_plots.latent_manifold",
    "a torch tensor: the tiles at their places",
    lambda: (lambda a: (vae_plots.latent_manifold(a, torch.tensor(MANIFOLD), 2.0), a)[1])(ax()),
    check=lambda a: a.images[0].get_array().shape == (26, 26),
)
CODES = {"z": np.zeros((3, 2)), "labels": [0, 1, 2], "point": (0.0, 0.0)}
bad_arguments(
    "vae_plots.latent_codes",
    lambda **kw: vae_plots.latent_codes(ax(), **kw),
    CODES,
    NOT_NUMBERS
    | {"inf": [[math.inf, 0.0]] * 3, "3-D codes": np.zeros((3, 3)), "empty": np.zeros((0, 2))},
    ["z"],
)
bad_arguments(
    "vae_plots.latent_codes",
    lambda **kw: vae_plots.latent_codes(ax(), **kw),
    CODES,
    {"None": None, "the wrong length": [0, 1]},
    ["labels"],
)
bad_arguments(
    "vae_plots.latent_codes",
    lambda **kw: vae_plots.latent_codes(ax(), **kw),
    CODES,
    NOT_NUMBERS | {"three numbers": (0.0, 0.0, 0.0), "inf": (math.inf, 0.0)},
    ["point"],
)
case("vae_plots.latent_codes", "valid input draws", lambda: vae_plots.latent_codes(ax(), **CODES))

# ---------------------------------------------------------------- the new widgets

bad_arguments(
    "widgets.choice_slider",
    widgets.choice_slider,
    {"description": "N", "options": (1, 2, 5), "value": 2},
    {"None": None, "empty": (), "a number": 3},
    ["options"],
)
bad_arguments(
    "widgets.choice_slider",
    widgets.choice_slider,
    {"description": "N", "options": (1, 2, 5), "value": 2},
    {"not an option": 3, "None": None},
    ["value"],
)
case(
    "widgets.choice_slider",
    "description = None",
    lambda: widgets.choice_slider(None, (1, 2), 1),
    raises="description",
)
case(
    "widgets.choice_slider",
    "one option",
    lambda: widgets.choice_slider("N", [7], 7).value,
    check=lambda v: v == 7,
)
EXPLORER = {"repeats": 2}
bad_arguments(
    "widgets.gradient_estimators_explorer",
    widgets.gradient_estimators_explorer,
    EXPLORER,
    BAD_FINITE,
    ["mu"],
)
bad_arguments(
    "widgets.gradient_estimators_explorer",
    widgets.gradient_estimators_explorer,
    EXPLORER,
    BAD_POSITIVE,
    ["var"],
)
bad_arguments(
    "widgets.gradient_estimators_explorer",
    widgets.gradient_estimators_explorer,
    EXPLORER,
    BAD_COUNT | {"one": 1},
    ["repeats"],
)
bad_arguments(
    "widgets.gradient_estimators_explorer",
    widgets.gradient_estimators_explorer,
    EXPLORER,
    BAD_SEED,
    ["seed"],
)
case(
    "widgets.gradient_estimators_explorer",
    "two repeats, every sample size",
    lambda: [
        setattr(e.sliders["n_samples"], "value", n) or e.image.value[:4]
        for e in [widgets.gradient_estimators_explorer(repeats=2)]
        for n in widgets.SAMPLE_SIZES
    ],
    check=lambda frames: all(f == b"\x89PNG" for f in frames),
)
EXPLORE = {
    "images": X[:2],
    "grid": GRID_2 | {"log_posterior": GRID_2["log_posterior"].expand(2, -1, -1)},
    "mu": np.zeros((2, 2)),
    "logvar": np.zeros((2, 2)),
}
bad_arguments(
    "widgets.posterior_explorer",
    widgets.posterior_explorer,
    EXPLORE,
    NOT_NUMBERS | {"empty": X[:0], "the wrong width": X[:2, :10]},
    ["images"],
)
bad_arguments(
    "widgets.posterior_explorer",
    widgets.posterior_explorer,
    EXPLORE,
    {k: v for k, v in BAD_GRIDS.items()} | {"one posterior for two images": GRID_2},
    ["grid"],
)
bad_arguments(
    "widgets.posterior_explorer",
    widgets.posterior_explorer,
    EXPLORE,
    NOT_NUMBERS | {"the wrong shape": np.zeros((3, 2))},
    ["mu", "logvar"],
)
bad_arguments(
    "widgets.posterior_explorer",
    widgets.posterior_explorer,
    EXPLORE,
    {"a number": 1.0, "the wrong shape": (np.zeros((3, 2)), np.zeros((3, 2)))},
    ["refined"],
)
bad_arguments(
    "widgets.posterior_explorer",
    widgets.posterior_explorer,
    EXPLORE,
    {"one name for two images": ["a"], "a string": "ab"},
    ["names"],
)
case(
    "widgets.posterior_explorer",
    "three images for two posteriors",
    lambda: widgets.posterior_explorer(**(EXPLORE | {"images": X[:3]})),
    raises="grid",
)
case(
    "widgets.posterior_explorer",
    "one image: a slider with one position",
    lambda: widgets.posterior_explorer(
        X[:1], GRID_2, torch.zeros(1, 2, requires_grad=True), torch.zeros(1, 2), names=["a"]
    ).image.value[:4],
    check=lambda head: head == b"\x89PNG",
)
LATENT = {"model": MODEL_2D, "mu": np.zeros((3, 2)), "labels": [0, 1, 2]}
bad_arguments(
    "widgets.latent_explorer",
    widgets.latent_explorer,
    LATENT,
    {"None": None, "a 3-D latent": tiny(z_dim=3), "a string": "VAE"},
    ["model"],
)
bad_arguments(
    "widgets.latent_explorer",
    widgets.latent_explorer,
    LATENT,
    NOT_NUMBERS | {"the wrong shape": np.zeros((3, 3))},
    ["mu"],
)
bad_arguments(
    "widgets.latent_explorer",
    widgets.latent_explorer,
    LATENT,
    {"None": None, "the wrong length": [0]},
    ["labels"],
)
bad_arguments("widgets.latent_explorer", widgets.latent_explorer, LATENT, BAD_POSITIVE, ["extent"])
case(
    "widgets.latent_explorer",
    "a Gaussian decoder, both sliders at their ends",
    lambda: [
        setattr(e.sliders[name], "value", end) or e.image.value[:4]
        for e in [widgets.latent_explorer(tiny(likelihood="gaussian"), np.zeros((3, 2)), [0, 1, 2])]
        for name in ("z1", "z2")
        for end in widgets.value_range(e.sliders[name])
    ],
    check=lambda frames: all(f == b"\x89PNG" for f in frames),
)


# ---------------------------------------------------------------- the tests


def public_callables():
    """``module.name`` of every public function and class that elbo_lib defines, the exempt
    modules left out."""
    names = set()
    for info in pkgutil.iter_modules(elbo_lib.__path__):
        if info.name.startswith("_") or info.name in EXEMPT:
            continue
        module = importlib.import_module(f"elbo_lib.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and name != "over_variance":
                names.add(f"{info.name}.{name}")
    return names


def test_every_public_callable_has_cases():
    covered = {c.target for c in CASES}
    missing = public_callables() - covered
    assert not missing, f"public callables without a hostile-input case: {sorted(missing)}"


def test_the_suite_is_as_large_as_reported():
    targets = {c.target for c in CASES}
    assert len(targets) >= 131 and len(CASES) >= 1750, (len(targets), len(CASES))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("c", CASES, ids=[f"{c.target}: {c.label}" for c in CASES])
def test_hostile_input(c):
    if c.raises is not None:
        with pytest.raises(ValueError, match=c.raises):
            c.call()
        return
    out = c.call()
    if c.check is not None:
        result = c.check(out)
        assert result is None or bool(result), f"{c.label}: got {out!r}"


# ---------------------------------------------------------------- properties down to logvar −1e4

logvars = st.floats(-1e4, 700)
points = st.floats(-1e3, 1e3)


@settings(deadline=None, max_examples=200)
@given(points, points, logvars)
def test_log_normal_in_log_variance_matches_mpmath(x, mean, logvar):
    mpmath.mp.dps = 50
    diff = mpmath.mpf(x) - mpmath.mpf(mean)
    square = diff**2 * mpmath.exp(-logvar)
    exact = -0.5 * (mpmath.log(2 * mpmath.pi) + logvar + square)
    out = float(densities.log_normal(x, mean, logvar=logvar))
    if -2 * exact > sys.float_info.max:  # the bracket is beyond the largest float
        assert out == -math.inf
    else:
        assert out == pytest.approx(float(exact), rel=1e-10, abs=1e-10)


@settings(deadline=None, max_examples=200)
@given(points, points, logvars, logvars)
def test_kl_normal_in_log_variances_matches_mpmath(mu_q, mu_p, logvar_q, logvar_p):
    mpmath.mp.dps = 50
    ratio = mpmath.mpf(logvar_q) - mpmath.mpf(logvar_p)
    square = (mpmath.mpf(mu_q) - mpmath.mpf(mu_p)) ** 2 * mpmath.exp(-mpmath.mpf(logvar_p))
    exact = 0.5 * (mpmath.expm1(ratio) - ratio + square)
    out = float(kl.kl_normal(mu_q, mu_p=mu_p, logvar_q=logvar_q, logvar_p=logvar_p))
    if 2 * exact > sys.float_info.max:  # the bracket is beyond the largest float
        assert out == math.inf
    else:
        assert out == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


@settings(deadline=None, max_examples=100)
@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(-1e4, 5))
def test_log_aggregate_posterior_of_one_component_is_its_log_density(z, mu, logvar):
    args = [torch.tensor([[v, -v]], dtype=torch.float64) for v in (z, mu)]
    lv = torch.full((1, 2), logvar, dtype=torch.float64)
    out = float(diagnostics.log_aggregate_posterior(args[0], args[1], lv))
    expected = float(densities.log_normal(args[0], args[1], logvar=lv).sum())
    assert out == pytest.approx(expected, rel=1e-10, abs=1e-7) or out == expected == -math.inf


@settings(deadline=None, max_examples=100)
@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=8))
def test_jensen_gap_is_non_negative_and_matches_mpmath(log_w):
    mpmath.mp.dps = 50
    exact = mpmath.log(sum(mpmath.exp(mpmath.mpf(v)) for v in log_w) / len(log_w)) - mpmath.fsum(
        log_w
    ) / len(log_w)
    out = float(bounds.jensen_gap(np.array(log_w)))
    assert out >= 0
    assert out == pytest.approx(float(exact), rel=1e-9, abs=1e-9)


def test_tolerances_in_this_module_are_not_vacuous():
    """A wrong value fails a value case: the check of the −1000 log-variance case rejects NaN and
    a value off by one nat."""
    (c,) = [c for c in CASES if c.label == "logvar = -1000 (variance 1e-435)"]
    for wrong in (math.nan, float(c.call()) + 1):
        with pytest.raises(AssertionError):
            c.check(wrong)
    assert re.search(r"\bvar\b", "var must be positive") and not re.search(r"\bvar\b", "logvar")
