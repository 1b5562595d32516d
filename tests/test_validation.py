"""Hostile input for every public callable of elbo_lib, derived from the declarations.

Each public callable declares the kind of each parameter (:mod:`elbo_lib.validation`). For every
callable and every declared parameter, hypothesis draws hostile values of that parameter's kind
into an otherwise valid call (:data:`BASELINES`); the call must raise a ``ValueError`` that names
the parameter. Valid spellings of a scalar (numpy numbers, 0-d arrays and tensors) must be
accepted. A callable without a declaration or a baseline fails :func:`test_every_public_callable_
is_declared`, so a new function cannot be forgotten. The hand-written tests at the end check
correct values at valid extremes against an independent reference.
"""

import contextlib
import importlib
import inspect
import io
import math
import pkgutil
import re
import signal
import sys

import matplotlib
import mpmath
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy import stats

import elbo_lib
from elbo_lib import (
    adam,
    ascent,
    beta_widget,
    bounds,
    cavi,
    checks,
    collapse,
    data,
    densities,
    diagnostics,
    divergences,
    estimators,
    flows,
    iwae,
    kl,
    linear_gaussian,
    made,
    plots,
    priors,
    rate_distortion,
    schedules,
    vae,
    vae_plots,
    validation,
    widgets,
)
from elbo_lib.linear_gaussian import LinearGaussian

matplotlib.use("Agg")

EXEMPT = {
    "validation": "the validators themselves",
    "densities.over_variance": "takes arrays already checked, and their namespace",
}


def is_check_module(name):
    """Check modules are not library API: they give students feedback on every input and never
    raise by design (the exercises, the grader's harness, and the problem sets)."""
    return name in ("exercises", "harness") or name.startswith("problems_")


# ---------------------------------------------------------------- valid baselines

X = data.load_digits()[0][:24]  # loaded once, outside every hypothesis loop


def tiny(seed=0, cls=None, **kwargs):
    torch.manual_seed(seed)
    return (cls or vae.VAE)(**({"z_dim": 2, "hidden": (8,)} | kwargs))


MODEL = LinearGaussian(2.0, 0.5)
VAE_2D = tiny()
MADE_VAE = tiny(cls=made.MADEVAE, x_dim=64, z_dim=2, hidden=(8,))
LINEAR = tiny(hidden=(), likelihood="gaussian")
GRID = np.linspace(-6, 6, 61)
LOG_P = stats.norm(0.5, 1.3).logpdf(GRID)
COV = np.array([[2.0, 0.3], [0.3, 1.0]])
DIGITS = X[:20].double().numpy()
PPCA = linear_gaussian.fit_ppca(DIGITS, 3)
TRAIN = {"epochs": 1, "batch_size": 16}
MU = torch.zeros(3, 2)


def grid_of(mean, cov, extent=6.0, n=61, n2=None):
    """A posterior_on_grid dict holding N(mean, cov) (one image), normalised by quadrature; the z2
    axis may have another number of points (non-square cells)."""
    z1 = torch.linspace(-extent, extent, n, dtype=torch.float64)
    z2 = torch.linspace(-extent, extent, n2 or n, dtype=torch.float64)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    z = torch.stack([cols, rows], -1)
    log_p = torch.distributions.MultivariateNormal(
        torch.tensor(mean, dtype=torch.float64), torch.tensor(cov, dtype=torch.float64)
    ).log_prob(z)
    area = float((z1[1] - z1[0]) * (z2[1] - z2[0]))
    log_p = log_p - torch.logsumexp(log_p.flatten(), 0) - math.log(area)
    return {"z1": z1, "z2": z2, "log_posterior": log_p[None]}


G_MEAN, G_COV = [0.5, -1.0], [[1.0, 0.4], [0.4, 0.5]]
GRID_2 = grid_of(G_MEAN, G_COV)
ROWS = [
    {
        "decoder": d,
        "remedy": "constant",
        "beta": 1.0,
        "seed": s,
        "kl": 1.0 + s,
        "kl_units": 1,
        "active_units": 1,
        "mutual_information": 0.5,
        "neg_elbo": 90.0,
        "nll": 88.0,
        "kl_history": [3.0, 2.0],
        "kl_per_dimension": np.array([1.0, 0.001]),
        "seconds": 1.0,
    }
    for d in ("MADE", "MLP")
    for s in range(2)
]
SURGERY = {"mutual_information": 1.0, "marginal_kl": 0.2, "average_kl": 1.2}
MIXTURE = tiny(cls=priors.MixturePriorVAE, components=3)
VAMP = tiny(cls=priors.VampPriorVAE, components=3)
FLOW = flows.PlanarFlow(2, 2)
Q = flows.FlowPosterior(torch.zeros(1, 2), torch.zeros(1, 2), 2)
POINTS = np.array([-2.0, -1.5, 1.0, 2.5])
CAVI_FIT = cavi.cavi_gmm(POINTS, 2, iters=3)
IWAE_ROWS = [
    {
        "k": k,
        "seed": s,
        "log_likelihood": np.array([-90.0 + k]),
        "elbo": np.array([-95.0 + k]),
        "kl_per_dimension": np.array([2.0, 0.5, 0.01]),
    }
    for k in (1, 5)
    for s in range(2)
]


def ax():
    return Figure().add_subplot()


def square(z):
    return z**2


def params():
    return [torch.zeros(2, requires_grad=True)]


def slider_figure():
    return widgets.SliderFigure(
        lambda ax, a: ax.plot([0, a]), {"a": widgets.float_slider("a", 0, 1, 0.5)}
    )


_WIDGET = None


def beta_widget_():
    global _WIDGET
    if _WIDGET is None:
        _WIDGET = beta_widget.BetaWidget(X, X[:8], torch.arange(8) % 10, betas=(1.0,), epochs=1)
    return _WIDGET


# qualified name -> () -> (callable, valid keyword arguments)
BASELINES = {
    # densities, kl, bounds, estimators
    "densities.log_normal": lambda: (densities.log_normal, {"x": 0.5, "mu": 0.1, "var": 2.0}),
    "kl.kl_normal": lambda: (kl.kl_normal, {"mu_q": 0.3, "var_q": 0.5, "mu_p": 0.1, "var_p": 2.0}),
    "kl.kl_to_standard_normal": lambda: (
        kl.kl_to_standard_normal,
        {"mu": np.zeros(2), "var": np.ones(2), "per_dimension": False},
    ),
    "kl.kl_mvn": lambda: (
        kl.kl_mvn,
        {"mu_q": np.zeros(2), "cov_q": COV, "mu_p": np.ones(2), "cov_p": np.eye(2)},
    ),
    "bounds.log_mean_exp": lambda: (bounds.log_mean_exp, {"a": np.zeros(3), "axis": -1}),
    "bounds.iwae_bound": lambda: (bounds.iwae_bound, {"log_w": np.zeros(3), "axis": -1}),
    "bounds.jensen_gap": lambda: (bounds.jensen_gap, {"log_w": np.arange(3.0), "axis": -1}),
    "bounds.jensen_gap_standard_error": lambda: (
        bounds.jensen_gap_standard_error,
        {"log_y": np.arange(4.0)},
    ),
    "estimators.score_function_gradients": lambda: (
        estimators.score_function_gradients,
        {"f": square, "mu": 1.0, "var": 1.0, "n_samples": 4, "baseline": 0.0, "seed": 0},
    ),
    "estimators.pathwise_gradients": lambda: (
        estimators.pathwise_gradients,
        {"f": square, "mu": 1.0, "var": 1.0, "n_samples": 4, "seed": 0},
    ),
    # the linear-Gaussian model and pPCA
    "linear_gaussian.LinearGaussian": lambda: (LinearGaussian, {"w": 2.0, "sigma2": 0.5}),
    "linear_gaussian.LinearGaussian.log_evidence": lambda: (MODEL.log_evidence, {"x": 1.0}),
    "linear_gaussian.LinearGaussian.posterior": lambda: (MODEL.posterior, {"x": 1.0}),
    "linear_gaussian.LinearGaussian.log_joint": lambda: (MODEL.log_joint, {"x": 1.0, "z": 0.2}),
    "linear_gaussian.LinearGaussian.expected_log_likelihood": lambda: (
        MODEL.expected_log_likelihood,
        {"x": 1.0, "mu": 0.2, "s2": 0.5},
    ),
    "linear_gaussian.LinearGaussian.elbo": lambda: (MODEL.elbo, {"x": 1.0, "mu": 0.2, "s2": 0.5}),
    "linear_gaussian.LinearGaussian.kl_to_posterior": lambda: (
        MODEL.kl_to_posterior,
        {"x": 1.0, "mu": 0.2, "s2": 0.5},
    ),
    "linear_gaussian.LinearGaussian.sample": lambda: (MODEL.sample, {"n": 3, "seed": 0}),
    "linear_gaussian.fit_ppca": lambda: (linear_gaussian.fit_ppca, {"X": DIGITS, "z_dim": 2}),
    "linear_gaussian.ppca_log_likelihood": lambda: (
        linear_gaussian.ppca_log_likelihood,
        dict(zip(("X", "W", "mean", "sigma2"), (DIGITS[:3], *PPCA), strict=True)),
    ),
    "linear_gaussian.ppca_posterior": lambda: (
        linear_gaussian.ppca_posterior,
        dict(zip(("X", "W", "mean", "sigma2"), (DIGITS[:3], *PPCA), strict=True)),
    ),
    "linear_gaussian.ppca_elbo": lambda: (
        linear_gaussian.ppca_elbo,
        dict(zip(("X", "W", "mean", "sigma2"), (DIGITS[:3], *PPCA), strict=True))
        | {"q_means": np.zeros((3, 3)), "q_cov": np.eye(3)},
    ),
    # ascent, schedules, data, adam
    "ascent.gradient_path": lambda: (
        ascent.gradient_path,
        {"objective": lambda m, v: -(m**2) - v, "mean": 1.0, "var": 1.0, "lr": 0.1, "steps": 3},
    ),
    "ascent.kl_descent": lambda: (ascent.kl_descent, {"mean": 1.0, "var": 0.5, "steps": 3}),
    "ascent.elbo_ascent": lambda: (ascent.elbo_ascent, {"model": MODEL, "x": 1.0, "steps": 3}),
    "schedules.constant": lambda: (schedules.constant, {"beta": 1.0}),
    "schedules.linear_warmup": lambda: (
        schedules.linear_warmup,
        {"warmup_steps": 10, "target": 1.0},
    ),
    "schedules.cyclical": lambda: (schedules.cyclical, {"period": 10, "ratio": 0.5, "target": 1.0}),
    "data.load_digits": lambda: (
        data.load_digits,
        {"binarize": True, "test_fraction": 0.2, "seed": 0},
    ),
    "data.edge_energy": lambda: (data.edge_energy, {"images": X[:3]}),
    "data.check_images": lambda: (
        data.check_images,
        {"x": X[:3], "name": "x", "x_dim": 64, "unit_interval": True},
    ),
    "adam.Adam": lambda: (
        adam.Adam,
        {
            "params": params(),
            "lr": 0.1,
            "betas": (0.9, 0.999),
            "eps": 1e-8,
            "weight_decay": 0.0,
            "amsgrad": False,
            "maximize": False,
        },
    ),
    "adam.Adam.zero_grad": lambda: (adam.Adam(params(), lr=0.1).zero_grad, {}),
    "adam.Adam.step": lambda: (adam.Adam(params(), lr=0.1).step, {}),
    # checks
    "checks.holds": lambda: (checks.holds, {"claim": "c", "condition": True, "evidence": ""}),
    "checks.close": lambda: (
        checks.close,
        {"claim": "c", "actual": 1.0, "expected": 1.0, "tol": 0.1},
    ),
    "checks.within_standard_errors": lambda: (
        checks.within_standard_errors,
        {"claim": "c", "samples": [0.9, 1.1, 1.0, 0.95], "expected": 1.0, "k": 4.0},
    ),
    "checks.mean_and_standard_error": lambda: (
        checks.mean_and_standard_error,
        {"values": [1.0, 2.0]},
    ),
    "checks.variance_and_standard_error": lambda: (
        checks.variance_and_standard_error,
        {"values": [1.0, 2.0, 4.0]},
    ),
    "checks.near": lambda: (
        checks.near,
        {"claim": "c", "estimate": 1.0, "expected": 1.1, "standard_error": 0.1, "k": 4.0},
    ),
    "checks.estimate": lambda: (checks.estimate, {"value": 1.5, "digits": 2}),
    # the VAE and its measurements
    "vae.VAE": lambda: (
        vae.VAE,
        {"x_dim": 64, "z_dim": 2, "hidden": (8,), "likelihood": "gaussian", "sigma2": 0.5},
    ),
    "vae.VAE.encode": lambda: (VAE_2D.encode, {"x": X[:3]}),
    "vae.VAE.decode": lambda: (VAE_2D.decode, {"z": MU}),
    "vae.VAE.log_likelihood": lambda: (VAE_2D.log_likelihood, {"x": X[:3], "z": MU}),
    "vae.VAE.sample_posterior": lambda: (VAE_2D.sample_posterior, {"mu": MU, "logvar": MU}),
    "vae.VAE.elbo_terms": lambda: (VAE_2D.elbo_terms, {"x": X[:3], "per_dimension": False}),
    "vae.VAE.log_importance_weights": lambda: (
        VAE_2D.log_importance_weights,
        {"x": X[:3], "k": 2},
    ),
    "vae.VAE.sample": lambda: (VAE_2D.sample, {"n": 2}),
    "vae.VAE.pixel_means": lambda: (VAE_2D.pixel_means, {"out": torch.zeros(2, 64)}),
    "vae.VAE.check_data": lambda: (VAE_2D.check_data, {"x": X[:3], "name": "x"}),
    "vae.train_vae": lambda: (
        vae.train_vae,
        {
            "model": tiny(),
            "x": X,
            "epochs": 1,
            "beta": 1.0,
            "batch_size": 16,
            "lr": 3e-3,
            "seed": 0,
            "free_bits": 0.0,
            "progress": False,
            "callback": None,
        },
    ),
    "vae.training_steps": lambda: (vae.training_steps, {"n": 10, "epochs": 2, "batch_size": 4}),
    "estimators.reparameterize": lambda: (
        estimators.reparameterize,
        {"mu": MU, "logvar": MU, "eps": MU},
    ),
    "vae.negative_elbo": lambda: (
        vae.negative_elbo,
        {"reconstruction": torch.zeros(3), "kl": torch.zeros(3, 2), "beta": 1.0, "free_bits": 0.0},
    ),
    "vae.bernoulli_log_likelihood": lambda: (
        vae.bernoulli_log_likelihood,
        {"x": X[:3], "logits": torch.zeros(3, 64)},
    ),
    "made.MaskedLinear": lambda: (made.MaskedLinear, {"mask": torch.ones(2, 3)}),
    "made.MaskedLinear.forward": lambda: (
        made.MaskedLinear(torch.ones(2, 3)).forward,
        {"x": torch.zeros(1, 3)},
    ),
    "made.MADE": lambda: (made.MADE, {"x_dim": 4, "z_dim": 2, "hidden": (8,)}),
    "made.MADE.forward": lambda: (
        made.MADE(4, 2, (8,)).forward,
        {"x": torch.zeros(1, 4), "z": torch.zeros(1, 2)},
    ),
    "made.MADEVAE": lambda: (made.MADEVAE, {"x_dim": 4, "z_dim": 2, "hidden": (8,)}),
    "made.MADEVAE.decode": lambda: (MADE_VAE.decode, {"z": MU}),
    "made.MADEVAE.log_likelihood": lambda: (MADE_VAE.log_likelihood, {"x": X[:3], "z": MU}),
    "made.MADEVAE.sample_pixels": lambda: (MADE_VAE.sample_pixels, {"z": MU, "seed": 0}),
    "diagnostics.evaluate_elbo": lambda: (
        diagnostics.evaluate_elbo,
        {"model": VAE_2D, "x": X[:3], "n_samples": 2, "seed": 0},
    ),
    "diagnostics.importance_log_likelihood": lambda: (
        diagnostics.importance_log_likelihood,
        {"model": VAE_2D, "x": X[:3], "k": 2, "seed": 0},
    ),
    "diagnostics.amortization_gap": lambda: (
        diagnostics.amortization_gap,
        {
            "model": VAE_2D,
            "x": X[:3],
            "steps": 2,
            "lr": 0.01,
            "n_samples": 2,
            "n_eval": 2,
            "seed": 0,
        },
    ),
    "diagnostics.inference_gaps": lambda: (
        diagnostics.inference_gaps,
        {"model": VAE_2D, "x": X[:3], "k": 2, "seed": 0, "steps": 2, "n_eval": 2},
    ),
    "diagnostics.linear_gaussian_log_likelihood": lambda: (
        diagnostics.linear_gaussian_log_likelihood,
        {"model": LINEAR, "x": X[:3]},
    ),
    "diagnostics.kl_per_dimension": lambda: (
        diagnostics.kl_per_dimension,
        {"model": VAE_2D, "x": X[:3]},
    ),
    "diagnostics.active_units": lambda: (
        diagnostics.active_units,
        {"model": VAE_2D, "x": X[:3], "threshold": 0.01},
    ),
    "diagnostics.elbo_surgery": lambda: (
        diagnostics.elbo_surgery,
        {"model": VAE_2D, "x": X[:3], "n_samples": 2, "seed": 0},
    ),
    "diagnostics.log_aggregate_posterior": lambda: (
        diagnostics.log_aggregate_posterior,
        {"z": MU, "mu": MU, "logvar": MU},
    ),
    "diagnostics.posterior_on_grid": lambda: (
        diagnostics.posterior_on_grid,
        {"model": VAE_2D, "x": X[:2], "extent": 4.0, "n": 11},
    ),
    "diagnostics.grid_posterior_moments": lambda: (
        diagnostics.grid_posterior_moments,
        {"grid": GRID_2},
    ),
    "diagnostics.grid_kl_to_posterior": lambda: (
        diagnostics.grid_kl_to_posterior,
        {"grid": GRID_2, "mu": torch.zeros(1, 2), "logvar": torch.zeros(1, 2)},
    ),
    "diagnostics.grid_kl_of_density": lambda: (
        diagnostics.grid_kl_of_density,
        {"grid": GRID_2, "log_q": GRID_2["log_posterior"]},
    ),
    "diagnostics.check_grid": lambda: (diagnostics.check_grid, {"grid": GRID_2, "n_images": 1}),
    # divergences
    "divergences.fit_gaussian": lambda: (
        divergences.fit_gaussian,
        {"log_p": LOG_P, "grid": GRID, "objective": "forward"},
    ),
    "divergences.reverse_kl": lambda: (
        divergences.reverse_kl,
        {"mean": 0.0, "std": 1.0, "log_p": LOG_P, "grid": GRID},
    ),
    "divergences.mixture_log_density": lambda: (
        divergences.mixture_log_density,
        {"grid": GRID, "separation": 2.0, "weight": 0.5},
    ),
    "divergences.factorised_fit": lambda: (
        divergences.factorised_fit,
        {"mean": np.zeros(2), "cov": COV, "objective": "reverse"},
    ),
    # figures of the first notebooks
    "plots.jensen_chord": lambda: (
        plots.jensen_chord,
        {"ax": ax(), "sigma": 1.0, "eps": np.zeros(3)},
    ),
    "plots.jensen_gap_curve": lambda: (
        plots.jensen_gap_curve,
        {"ax": ax(), "sigma": 1.0, "sigma_max": 2.5},
    ),
    "plots.log_weights": lambda: (
        plots.log_weights,
        {"ax": ax(), "model": MODEL, "x": 1.0, "qs": {"q": (0.0, 1.0)}, "z": None},
    ),
    "plots.prior_q_posterior": lambda: (
        plots.prior_q_posterior,
        {"ax": ax(), "model": MODEL, "x": 1.0, "mu": 0.0, "s2": 1.0, "z": None},
    ),
    "plots.elbo_gap_bar": lambda: (
        plots.elbo_gap_bar,
        {"ax": ax(), "log_evidence": -1.0, "elbo": -2.0},
    ),
    "plots.elbo_and_kl_against_mean": lambda: (
        plots.elbo_and_kl_against_mean,
        {"ax": ax(), "model": MODEL, "x": 1.0, "s2": 0.5, "mus": np.linspace(-1, 1, 5)},
    ),
    "plots.mc_convergence": lambda: (
        plots.mc_convergence,
        {
            "ax": ax(),
            "n_samples": [1, 10],
            "estimates": [0.5, 0.6],
            "std_errors": [0.1, 0.03],
            "exact": 0.6,
        },
    ),
    "plots.kl_map": lambda: (plots.kl_map, {"ax": ax(), "mu": 0.5, "s2": 1.0, "path": None}),
    "plots.q_and_prior": lambda: (plots.q_and_prior, {"ax": ax(), "mu": 0.5, "s2": 1.0, "z": None}),
    "plots.elbo_landscape": lambda: (
        plots.elbo_landscape,
        {"ax": ax(), "model": MODEL, "x": 1.0, "path": None},
    ),
    "plots.prior_likelihood_posterior": lambda: (
        plots.prior_likelihood_posterior,
        {"ax": ax(), "model": MODEL, "x": 1.0, "z": None},
    ),
    "plots.latent_scatter": lambda: (
        plots.latent_scatter,
        {"ax": ax(), "z": np.zeros((3, 2)), "labels": [0, 1, 2]},
    ),
    "plots.mixture_fits": lambda: (
        plots.mixture_fits,
        {"ax": ax(), "grid": GRID, "log_p": LOG_P, "fits": {"fit": (0.0, 1.0)}},
    ),
    "plots.fits_against_separation": lambda: (
        plots.fits_against_separation,
        {"ax": ax(), "separations": [1.0, 2.0], "fits": {"fit": [(0.0, 1.0), (0.5, 1.0)]}},
    ),
    "plots.gaussian_ellipses": lambda: (
        plots.gaussian_ellipses,
        {"ax": ax(), "mean": np.zeros(2), "covs": {"p": COV}, "n_std": 2.0},
    ),
    "plots.estimate_histograms": lambda: (
        plots.estimate_histograms,
        {
            "ax": ax(),
            "estimates": {"score function": [1.5, 2.5, 2.0], "pathwise": [1.9, 2.1, 2.0]},
            "exact": 2.0,
            "bins": np.linspace(0, 4, 9),
        },
    ),
    "plots.estimator_spread": lambda: (
        plots.estimator_spread,
        {
            "ax": ax(),
            "n_samples": [1, 10, 100],
            "spreads": {"pathwise": [1.0, 0.3, 0.1]},
            "per_sample_variances": {"pathwise": 1.0},
        },
    ),
    "plots.mode_costs": lambda: (
        plots.mode_costs,
        {
            "ax": ax(),
            "means": np.linspace(-3, 3, 7),
            "kl": np.linspace(0, 1, 7),
            "costs": {"-log w": 0.7},
        },
    ),
    # figures of the VAE notebooks
    "vae_plots.image_grid": lambda: (
        vae_plots.image_grid,
        {"ax": ax(), "images": X[:3], "ncols": 10, "row_labels": None, "title": None},
    ),
    "vae_plots.training_curve": lambda: (
        vae_plots.training_curve,
        {
            "ax": ax(),
            "history": {"elbo": [-90.0, -80.0]},
            "reference": None,
            "reference_label": None,
        },
    ),
    "vae_plots.iwae_against_k": lambda: (
        vae_plots.iwae_against_k,
        {
            "ax": ax(),
            "ks": [1, 10],
            "log_likelihoods": [-90.0, -89.0],
            "amortized_elbo": -91.0,
            "refined_elbo": -90.5,
        },
    ),
    "vae_plots.gap_bars": lambda: (
        vae_plots.gap_bars,
        {
            "ax": ax(),
            "log_likelihood": -88.0,
            "refined_elbo": -89.0,
            "amortized_elbo": -90.0,
            "title": None,
        },
    ),
    "widgets.gap_explorer": lambda: (
        widgets.gap_explorer,
        {
            "images": X[:2],
            "gaps": {
                "log_likelihood": [-88.0] * 2,
                "refined_elbo": [-89.0] * 2,
                "amortized_elbo": [-90.0] * 2,
            },
        },
    ),
    "vae_plots.aggregate_posterior": lambda: (
        vae_plots.aggregate_posterior,
        {"ax": ax(), "z": np.zeros((3, 2)), "labels": [0, 1, 2], "title": None},
    ),
    "vae_plots.surgery_bar": lambda: (
        vae_plots.surgery_bar,
        {"ax": ax(), "surgery": SURGERY, "n": 100},
    ),
    "vae_plots.surgery_against_beta": lambda: (
        vae_plots.surgery_against_beta,
        {"ax": ax(), "betas": [0.5, 1.0], "results": [SURGERY] * 2, "n": 100},
    ),
    "vae_plots.traversal_images": lambda: (
        vae_plots.traversal_images,
        {"model": VAE_2D, "unit": 0, "values": [-1.0, 1.0]},
    ),
    "vae_plots.latent_traversals": lambda: (
        vae_plots.latent_traversals,
        {
            "ax": ax(),
            "model": VAE_2D,
            "units": [0],
            "values": [-1.0, 1.0],
            "row_labels": None,
            "title": None,
        },
    ),
    "vae_plots.posterior_and_q": lambda: (
        vae_plots.posterior_and_q,
        {
            "ax": ax(),
            "z1": GRID_2["z1"],
            "z2": GRID_2["z2"],
            "log_posterior": GRID_2["log_posterior"][0],
            "mu": [0.0, 0.0],
            "logvar": [0.0, 0.0],
            "refined": None,
            "title": None,
            "legend": True,
        },
    ),
    "vae_plots.posterior_legend": lambda: (
        vae_plots.posterior_legend,
        {"fig": Figure(), "refined": True},
    ),
    "vae_plots.latent_manifold": lambda: (
        vae_plots.latent_manifold,
        {"ax": ax(), "images": np.full((3, 3, 64), 0.5), "extent": 2.0},
    ),
    "vae_plots.latent_codes": lambda: (
        vae_plots.latent_codes,
        {"ax": ax(), "z": np.zeros((3, 2)), "labels": [0, 1, 2], "point": (0.0, 0.0)},
    ),
    "vae_plots.surgery_by_model": lambda: (
        vae_plots.surgery_by_model,
        {"ax": ax(), "surgeries": {"N(0, I)": SURGERY}, "n": 100},
    ),
    "vae_plots.posterior_and_flow": lambda: (
        vae_plots.posterior_and_flow,
        {
            "ax": ax(),
            "z1": GRID_2["z1"],
            "z2": GRID_2["z2"],
            "log_posterior": GRID_2["log_posterior"][0],
            "log_q": GRID_2["log_posterior"][0],
            "gaussian": None,
            "title": None,
            "legend": True,
        },
    ),
    "vae_plots.flow_legend": lambda: (vae_plots.flow_legend, {"fig": Figure(), "gaussian": True}),
    "vae_plots.kl_against_length": lambda: (
        vae_plots.kl_against_length,
        {"ax": ax(), "lengths": [0, 2], "kl": [[0.5], [0.2]], "names": None},
    ),
    # widgets
    "widgets.float_slider": lambda: (
        widgets.float_slider,
        {
            "description": "a",
            "low": 0.0,
            "high": 1.0,
            "value": 0.5,
            "step": 0.01,
            "continuous": True,
        },
    ),
    "widgets.log_slider": lambda: (
        widgets.log_slider,
        {"description": "a", "low": 0.1, "high": 10.0, "value": 1.0, "continuous": True},
    ),
    "widgets.value_range": lambda: (
        widgets.value_range,
        {"slider": widgets.float_slider("a", 0, 1, 0.5)},
    ),
    "widgets.choice_slider": lambda: (
        widgets.choice_slider,
        {"description": "n", "options": (1, 2, 5), "value": 2},
    ),
    "widgets.SliderFigure": lambda: (
        widgets.SliderFigure,
        {
            "draw": lambda ax, a: ax.plot([0, a]),
            "sliders": {"a": widgets.float_slider("a", 0, 1, 0.5)},
            "nrows": 1,
            "ncols": 1,
            "width_ratios": None,
            "figsize": (4, 3),
        },
    ),
    "widgets.SliderFigure.redraw": lambda: (slider_figure().redraw, {"change": None}),
    "widgets.SliderFigure.snapshot": lambda: (slider_figure().snapshot, {}),
    "widgets.jensen_explorer": lambda: (widgets.jensen_explorer, {"seed": 0}),
    "widgets.kl_identity_explorer": lambda: (
        widgets.kl_identity_explorer,
        {"model": MODEL, "x": 1.0},
    ),
    "widgets.kl_map_explorer": lambda: (widgets.kl_map_explorer, {}),
    "widgets.elbo_landscape_explorer": lambda: (widgets.elbo_landscape_explorer, {}),
    "widgets.mode_seeking_explorer": lambda: (widgets.mode_seeking_explorer, {}),
    "widgets.factorised_fit_explorer": lambda: (widgets.factorised_fit_explorer, {}),
    "widgets.gradient_estimators_explorer": lambda: (
        widgets.gradient_estimators_explorer,
        {"mu": 1.0, "var": 1.0, "repeats": 2, "seed": 0},
    ),
    "widgets.posterior_explorer": lambda: (
        widgets.posterior_explorer,
        {
            "images": X[:1],
            "grid": GRID_2,
            "mu": np.zeros((1, 2)),
            "logvar": np.zeros((1, 2)),
            "refined": None,
            "names": None,
        },
    ),
    "widgets.latent_explorer": lambda: (
        widgets.latent_explorer,
        {"model": VAE_2D, "mu": np.zeros((3, 2)), "labels": [0, 1, 2], "extent": 3.0},
    ),
    "widgets.flow_explorer": lambda: (
        widgets.flow_explorer,
        {
            "model": VAE_2D,
            "images": X[:1],
            "grid": GRID_2,
            "fits": {2: Q},
            "names": None,
            "max_length": 2,
        },
    ),
    # learned priors, flows, IWAE training, CAVI
    "vae.VAE.log_prior": lambda: (VAE_2D.log_prior, {"z": MU}),
    "vae.VAE.sample_prior": lambda: (VAE_2D.sample_prior, {"n": 2}),
    "vae.VAE.prior_kl": lambda: (VAE_2D.prior_kl, {"mu": MU, "logvar": MU, "z": MU[None]}),
    "vae.negative_iwae": lambda: (vae.negative_iwae, {"log_w": torch.zeros(3, 2)}),
    "vae.importance_weighted_loss": lambda: (
        vae.importance_weighted_loss,
        {"model": VAE_2D, "x": X[:3], "k": 2, "estimator": "dreg", "seed": 0},
    ),
    "vae.log_weights_of_draws": lambda: (
        vae.log_weights_of_draws,
        {
            "z": torch.zeros(2, 3, 2),
            "log_joint": torch.zeros(2, 3),
            "mu": MU,
            "logvar": MU,
            "estimator": "pathwise",
        },
    ),
    "priors.LearnedPriorVAE": lambda: (
        priors.LearnedPriorVAE,
        {"components": 2, "z_dim": 2, "hidden": (8,)},
    ),
    "priors.LearnedPriorVAE.prior_kl": lambda: (
        MIXTURE.prior_kl,
        {"mu": MU, "logvar": MU, "z": MU[None]},
    ),
    "priors.LearnedPriorVAE.elbo_terms": lambda: (
        MIXTURE.elbo_terms,
        {"x": X[:3], "per_dimension": True},
    ),
    "priors.MixturePriorVAE": lambda: (
        priors.MixturePriorVAE,
        {"components": 2, "z_dim": 2, "hidden": (8,)},
    ),
    "priors.MixturePriorVAE.log_prior": lambda: (MIXTURE.log_prior, {"z": MU}),
    "priors.MixturePriorVAE.sample_prior": lambda: (MIXTURE.sample_prior, {"n": 2}),
    "priors.VampPriorVAE": lambda: (
        priors.VampPriorVAE,
        {"components": 2, "z_dim": 2, "hidden": (8,)},
    ),
    "priors.VampPriorVAE.log_prior": lambda: (VAMP.log_prior, {"z": MU}),
    "priors.VampPriorVAE.sample_prior": lambda: (VAMP.sample_prior, {"n": 2}),
    "flows.PlanarFlow": lambda: (flows.PlanarFlow, {"dim": 2, "length": 2, "batch": 3}),
    "flows.PlanarFlow.forward": lambda: (FLOW.forward, {"z": MU}),
    "flows.PlanarFlow.u_hat": lambda: (FLOW.u_hat, {}),
    "flows.PlanarFlow.inverse": lambda: (FLOW.inverse, {"y": MU}),
    "flows.FlowPosterior": lambda: (
        flows.FlowPosterior,
        {"mu": MU, "logvar": MU, "length": 2},
    ),
    "flows.FlowPosterior.sample": lambda: (Q.sample, {"eps": torch.zeros(4, 1, 2)}),
    "flows.FlowPosterior.log_density": lambda: (Q.log_density, {"z": torch.zeros(4, 1, 2)}),
    "flows.log_weights": lambda: (
        flows.log_weights,
        {"model": VAE_2D, "x": X[:1], "q": Q, "eps": torch.zeros(4, 1, 2)},
    ),
    "flows.fit_flow": lambda: (
        flows.fit_flow,
        {
            "model": VAE_2D,
            "x": X[:2],
            "length": 1,
            "steps": 2,
            "anneal": 1,
            "lr": 0.02,
            "n_samples": 2,
            "seed": 0,
        },
    ),
    "flows.grid_kl": lambda: (flows.grid_kl, {"grid": GRID_2, "q": Q}),
    "flows.grid_log_density": lambda: (flows.grid_log_density, {"grid": GRID_2, "q": Q}),
    "iwae.encoder_gradients": lambda: (
        iwae.encoder_gradients,
        {"model": VAE_2D, "x": X[:2], "k": 2, "estimator": "dreg", "draws": 3, "seed": 0},
    ),
    "iwae.encoder_gradient_snr": lambda: (
        iwae.encoder_gradient_snr,
        {"model": VAE_2D, "x": X[:2], "k": 2, "estimator": "pathwise", "draws": 3, "seed": 0},
    ),
    "iwae.snr_floor": lambda: (iwae.snr_floor, {"draws": 100}),
    "iwae.iwae_run": lambda: (
        iwae.iwae_run,
        {
            "x_train": X,
            "x_test": X[:4],
            "k": 2,
            "seed": 0,
            "epochs": 1,
            "lr": 1e-2,
            "k_eval": 4,
            "estimator": "pathwise",
            "z_dim": 2,
        },
    ),
    "iwae.paired_difference": lambda: (
        iwae.paired_difference,
        {"rows": IWAE_ROWS, "key": "elbo", "k": 5, "baseline": 1},
    ),
    "iwae.plot_bounds_against_k": lambda: (
        iwae.plot_bounds_against_k,
        {"ax": ax(), "rows": IWAE_ROWS},
    ),
    "iwae.plot_unit_kl": lambda: (iwae.plot_unit_kl, {"ax": ax(), "rows": IWAE_ROWS, "seed": 0}),
    "iwae.plot_snr_against_k": lambda: (
        iwae.plot_snr_against_k,
        {"ax": ax(), "ks": [1, 10], "snr": {"pathwise": [1.0, 0.5]}, "floor": 0.1},
    ),
    "estimators.optimal_baseline": lambda: (
        estimators.optimal_baseline,
        {"f": square, "mu": 1.0, "var": 1.0, "n_samples": 8, "seed": 0},
    ),
    "cavi.cavi_gmm": lambda: (
        cavi.cavi_gmm,
        {"x": POINTS, "k": 2, "sigma2": 1.0, "iters": 3, "seed": 0},
    ),
    "cavi.gmm_elbo": lambda: (
        cavi.gmm_elbo,
        {k: CAVI_FIT[k] for k in ("m", "s2", "phi")} | {"x": POINTS, "sigma2": 1.0},
    ),
    "cavi.exact_posterior": lambda: (cavi.exact_posterior, {"x": POINTS, "k": 2, "sigma2": 1.0}),
    "cavi.marginal_density": lambda: (
        cavi.marginal_density,
        {"posterior": cavi.exact_posterior(POINTS, 2), "mu": np.linspace(-3, 3, 5)},
    ),
    "cavi.plot_fit": lambda: (
        cavi.plot_fit,
        {"ax": ax(), "x": POINTS, "fit": CAVI_FIT, "marginals": None, "top": None},
    ),
    "cavi.plot_gap": lambda: (
        cavi.plot_gap,
        {
            "ax": ax(),
            "elbo": CAVI_FIT["elbo"],
            "log_px": cavi.exact_posterior(POINTS, 2)["log_px"],
            "current": 1,
            "floor": None,
        },
    ),
    "cavi.cavi_explorer": lambda: (
        cavi.cavi_explorer,
        {"x": POINTS, "k": 2, "sigma2": 1.0, "iters": 3, "seeds": 2},
    ),
    # the collapse and β studies
    "collapse.CollapseConfig": lambda: (
        collapse.CollapseConfig,
        {"made_hidden": (8,), "epochs": 1, "lr": 0.01, "k": 2, "seeds": (0,)},
    ),
    "collapse.training_plan": lambda: (
        collapse.training_plan,
        {"remedy": "warm-up", "steps": 10, "free_bits": 0.25, "beta": 1.0},
    ),
    "collapse.make_model": lambda: (
        collapse.make_model,
        {"decoder": "MLP", "z_dim": 2, "made_hidden": (8,), "seed": 0},
    ),
    "collapse.collapse_run": lambda: (
        collapse.collapse_run,
        {
            "decoder": "MLP",
            "remedy": "constant",
            "x_train": X,
            "x_test": X[:4],
            "seed": 0,
            "epochs": 1,
            "lr": 0.01,
            "k": 2,
            "beta": 1.0,
            "made_hidden": (8,),
        },
    ),
    "collapse.collapse_study": lambda: (
        collapse.collapse_study,
        {"x_train": X, "x_test": X[:4], "config": "fast", "large_beta": 4.0, "progress": None},
    ),
    "collapse.summarize": lambda: (collapse.summarize, {"rows": ROWS}),
    "collapse.format_table": lambda: (collapse.format_table, {"table": collapse.summarize(ROWS)}),
    "collapse.plot_kl_over_training": lambda: (
        collapse.plot_kl_over_training,
        {"ax": ax(), "rows": ROWS, "decoder": "MADE"},
    ),
    "collapse.plot_kl_per_unit": lambda: (
        collapse.plot_kl_per_unit,
        {"ax": ax(), "rows": ROWS, "decoder": "MADE", "floor": 1e-3},
    ),
    "collapse.select": lambda: (
        collapse.select,
        {"rows": ROWS, "decoder": "MADE", "remedy": "constant", "beta": 1.0},
    ),
    "collapse.per_seed": lambda: (
        collapse.per_seed,
        {"rows": ROWS, "decoder": "MADE", "remedy": "constant", "metric": "kl", "beta": 1.0},
    ),
    "rate_distortion.rate_distortion": lambda: (
        rate_distortion.rate_distortion,
        {"model": VAE_2D, "x": X[:3], "n_samples": 2, "seed": 0},
    ),
    "rate_distortion.train_beta_vae": lambda: (
        rate_distortion.train_beta_vae,
        {
            "beta": 1.0,
            "x": X,
            "z_dim": 2,
            "hidden": (8,),
            "epochs": 1,
            "lr": 3e-3,
            "seed": 0,
            "callback": None,
            "progress": False,
        },
    ),
    "rate_distortion.beta_sweep": lambda: (
        rate_distortion.beta_sweep,
        {
            "betas": [1.0],
            "x_train": X,
            "x_test": X[:4],
            "threshold": 0.01,
            "hidden": (8,),
            "epochs": 1,
        },
    ),
    "rate_distortion.plot_rate_distortion": lambda: (
        rate_distortion.plot_rate_distortion,
        {
            "ax": ax(),
            "rate": [1.0, 2.0],
            "distortion": [3.0, 2.0],
            "beta": [1.0, 0.5],
            "mark_beta": 1.0,
            "latest": None,
        },
    ),
    "rate_distortion.plot_units_against_beta": lambda: (
        rate_distortion.plot_units_against_beta,
        {
            "ax": ax(),
            "beta": [1.0],
            "kl_per_dimension": [[0.5, 1.0]],
            "active_units": [1],
            "threshold": 0.01,
            "floor": 1e-3,
        },
    ),
    "beta_widget.BetaVAEConfig": lambda: (
        beta_widget.BetaVAEConfig,
        {"z_dim": 2, "hidden": (8,), "epochs": 1, "lr": 3e-3},
    ),
    "beta_widget.BetaWidget": lambda: (
        beta_widget.BetaWidget,
        {
            "x_train": X,
            "x_test": X[:8],
            "y_test": torch.arange(8) % 10,
            "betas": (1.0,),
            "seed": 0,
            "epochs": 1,
        },
    ),
    "beta_widget.BetaWidget.train": lambda: (beta_widget_().train, {"beta": 1.0}),
    "beta_widget.BetaWidget.reset": lambda: (beta_widget_().reset, {}),
}
# a valid call of these takes seconds: their hostile values are refused first, but the valid
# spellings of their scalars are not run
SLOW = {
    "collapse.collapse_study",
    "collapse.collapse_run",
    "rate_distortion.beta_sweep",
    "beta_widget.BetaWidget",
    "beta_widget.BetaWidget.train",
    "widgets.latent_explorer",
    "widgets.posterior_explorer",
    "widgets.gradient_estimators_explorer",
    "widgets.flow_explorer",
    "iwae.iwae_run",
}


def public_callables():
    """``{module.name or module.Class.method: callable}`` of every public function, class and
    method that elbo_lib defines, the exempt ones left out."""
    found = {}
    for info in pkgutil.iter_modules(elbo_lib.__path__):
        if info.name.startswith("_") or info.name in EXEMPT or is_check_module(info.name):
            continue
        module = importlib.import_module(f"elbo_lib.{info.name}")
        for name, obj in vars(module).items():
            qualified = f"{info.name}.{name}"
            if name.startswith("_") or qualified in EXEMPT:
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found[qualified] = obj
            if inspect.isclass(obj):
                for method, member in vars(obj).items():
                    if inspect.isfunction(member) and not method.startswith("_"):
                        found[f"{qualified}.{method}"] = member
    return found


def test_every_public_callable_is_declared():
    undeclared, unlisted = [], []
    for name, obj in public_callables().items():
        declaration = validation.declared(obj)
        function = obj.__init__ if inspect.isclass(obj) else obj
        parameters = [
            p.name
            for p in inspect.signature(function).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if declaration is None or set(parameters) - set(declaration):
            undeclared.append(name)
        if name not in BASELINES:
            unlisted.append(name)
    assert not undeclared, (
        f"public callables without a declaration of every parameter: {undeclared}"
    )
    assert not unlisted, f"public callables without a baseline in BASELINES: {unlisted}"


# ---------------------------------------------------------------- hostile values per kind

NOT_NUMBERS = [math.nan, None, "1.0", {}, 1j, [1.0, None]]
NOT_FINITE = [*NOT_NUMBERS, math.inf, -math.inf, [0.0, math.inf]]
NOT_A_SCALAR = [math.nan, math.inf, -math.inf, None, "1", True, [1.0], np.zeros(2), 1j]
NOT_A_COUNT = [-1, 1.5, True, None, "3", math.nan, np.float64(2.0), np.zeros(2, dtype=int)]
NOT_A_TENSOR = [
    None,
    np.zeros((3, 2)),
    torch.full((3, 2), math.nan),
    torch.full((3, 2), math.inf),
    torch.zeros(3, 2, dtype=torch.int64),
]


def hostile(kind):
    """A hypothesis strategy of values that ``kind`` must refuse (None is valid if optional)."""
    values, extra = hostile_values(kind)
    strategy = st.sampled_from(values) | extra
    if "optional" in kind.limits:
        strategy = strategy.filter(lambda v: v is not None)
    return strategy


def hostile_values(kind):
    """The values ``kind`` must refuse: a list, and a strategy of more beyond its limits."""
    tag, limits = kind.tag, kind.limits
    extra = st.nothing()
    values = {
        "array": NOT_NUMBERS,
        "finite": NOT_FINITE,
        "logvar": NOT_FINITE,
        "positive": [*NOT_FINITE, 0.0, -1.0, [1.0, 0.0]],
        "log_weights": [math.nan, math.inf, None, "x", {}],
        "numpy_finite": NOT_FINITE,
        "finite_values": NOT_FINITE,
        "positive_values": [*NOT_FINITE, 0.0, -1.0],
        "positive_numbers": [*NOT_FINITE, 0.0, -1.0],
        "torch_finite": NOT_FINITE,
        "covariance": [*NOT_FINITE, -np.eye(2), [[1.0, 0.9], [0.0, 1.0]], np.zeros((2, 3))],
        "tensor": NOT_A_TENSOR,
        "data": [*NOT_A_TENSOR, X[:0], X[:3, :10], X[0]],
        "function": [None, 1.0, "f"],
        "model": [None, 1.0, "model", object()],
        "instance": [None, 1.0, "x"],
        "axes": [None, 1.0, Figure()],
        "choice": [None, "nonsense", 1.5, []],
        "text": [None, 1.0, b"x"],
        "hidden": [-1, 0, (0,), (1.5,), "12", None, (2**20,)],
        "index": [1.5, None, "0", True, 10**30],
        "grid": [
            None,
            {},
            "grid",
            GRID_2 | {"z1": GRID_2["z1"].flip(0)},
            GRID_2 | {"z2": GRID_2["z2"][:1]},
        ],
        "betas": [None, (0.9,), (1.5, 0.9), "ab"],
        "baseline": [*NOT_A_SCALAR[:-2], [1.0, math.nan], np.zeros(3), 1j],
        "starts": [None, (), "nowhere", ("encoder", "elsewhere"), 1.0],
    }.get(tag)
    if tag == "real":
        low, high, strict = limits[:3]
        values = list(NOT_A_SCALAR)
        if math.isfinite(low):
            values += [low - 1.0] + ([low] if strict else [])
            extra = st.floats(max_value=low, exclude_max=not strict, allow_infinity=False)
        if math.isfinite(high):
            values += [high * 10 + 1] + ([high] if limits[3:] == (True,) else [])
            extra = extra | st.floats(min_value=high, exclude_min=True, allow_infinity=False)
    elif tag in ("count", "seed"):
        low, limit = limits[:2]
        values = [*NOT_A_COUNT, low - 1, 2**64]
        if math.isfinite(limit):
            values += (
                [limit + 1, np.int64(min(limit + 1, 2**63 - 1))]
                if limit + 1 < 2**63
                else [limit + 1]
            )
        extra = st.integers(max_value=low - 1)
    elif tag == "choice":
        values = [v for v in values if not any(v is o or v == o for o in limits)]
    return values, extra


def valid_spellings(kind, value):
    """Other spellings of a valid scalar ``value`` that ``kind`` must accept."""
    if kind.tag == "real" and isinstance(value, float):
        return [np.float64(value), np.array(value), torch.tensor(value, dtype=torch.float64)]
    if kind.tag in ("count", "seed") and isinstance(value, int) and not isinstance(value, bool):
        return [np.int64(value), np.array(value)]
    return []


CASES = [
    (name, parameter)
    for name, make in BASELINES.items()
    for parameter, kind in (validation.declared(public_callables().get(name)) or {}).items()
    if kind.tag != "anything"
]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def _call(function, kwargs, seconds=20):
    """Call with an alarm, so that a hang fails the case instead of the run."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        return function(**kwargs)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _no_nan(out):
    for value in (
        out.values() if isinstance(out, dict) else out if isinstance(out, tuple) else [out]
    ):
        if isinstance(value, torch.Tensor | np.ndarray | float):
            assert not np.any(
                np.isnan(np.asarray(value.detach() if isinstance(value, torch.Tensor) else value))
            )


def _refused_by_name(function, kwargs, parameter, bad):
    try:
        out = _call(function, kwargs | {parameter: bad})
    except ValueError as error:
        if re.search(rf"(?<![\w\[]){re.escape(parameter)}\b", str(error)):
            return None
        return f"{parameter}={bad!r:.60}: the message names something else: {error}"
    except Hang:
        return f"{parameter}={bad!r:.60} hangs"
    return f"{parameter}={bad!r:.60} is accepted: returned {type(out).__name__}"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("name", "parameter"), CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_every_hostile_value_of_the_kind_is_refused_by_name(name, parameter):
    function, kwargs = BASELINES[name]()
    kind = validation.declared(public_callables()[name])[parameter]
    values = [v for v in hostile_values(kind)[0] if v is not None or "optional" not in kind.limits]
    problems = [_refused_by_name(function, kwargs, parameter, bad) for bad in values]
    assert not any(problems), [p for p in problems if p]


def _bounded(kind):
    """A count, a seed, or a real number with a finite limit: numbers beyond it exist."""
    if kind.tag == "real":
        return math.isfinite(kind.limits[0]) or math.isfinite(kind.limits[1])
    return kind.tag in ("count", "seed")


BEYOND = [
    (name, parameter)
    for name, parameter in CASES
    if _bounded(validation.declared(public_callables()[name])[parameter])
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("name", "parameter"), BEYOND, ids=[f"{n}:{p}" for n, p in BEYOND])
@settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_number_beyond_the_limits_is_refused_by_name(name, parameter, data):
    function, kwargs = BASELINES[name]()
    kind = validation.declared(public_callables()[name])[parameter]
    extra = hostile_values(kind)[1]
    bad = data.draw(extra, label=parameter)
    problem = _refused_by_name(function, kwargs, parameter, bad)
    assert problem is None, problem


SPELLINGS = [
    (name, parameter)
    for name, parameter in CASES
    if name not in SLOW
    and valid_spellings(
        validation.declared(public_callables()[name])[parameter],
        BASELINES[name]()[1].get(parameter),
    )
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("name", "parameter"), SPELLINGS, ids=[f"{n}:{p}" for n, p in SPELLINGS])
def test_a_scalar_may_be_a_numpy_number_or_a_0d_array_or_tensor(name, parameter):
    kwargs = BASELINES[name]()[1]
    kind = validation.declared(public_callables()[name])[parameter]
    for spelling in valid_spellings(kind, kwargs[parameter]):
        _no_nan(_call(BASELINES[name]()[0], BASELINES[name]()[1] | {parameter: spelling}))


def test_the_baselines_are_valid():
    for name, make in BASELINES.items():
        if name not in SLOW:
            function, kwargs = make()
            _no_nan(_call(function, kwargs))


def test_a_switched_off_check_is_off_inside_its_block_only():
    with validation.skip_validation(), np.errstate(invalid="ignore"):
        assert np.isnan(kl.kl_to_standard_normal(np.zeros(2), np.array([-1.0, 1.0])))
    with pytest.raises(ValueError, match=r"\bvar\b"):
        kl.kl_to_standard_normal(np.zeros(2), np.array([-1.0, 1.0]))


# ---------------------------------------------------------------- correct values at extremes

logvars = st.floats(-1e4, 700)
points = st.floats(-1e3, 1e3)


@settings(deadline=None, max_examples=100)
@given(points, points, logvars)
def test_log_normal_in_log_variance_matches_mpmath(x, mean, logvar):
    mpmath.mp.dps = 50
    diff = mpmath.mpf(x) - mpmath.mpf(mean)
    exact = -0.5 * (mpmath.log(2 * mpmath.pi) + logvar + diff**2 * mpmath.exp(-logvar))
    out = float(densities.log_normal(x, mean, logvar=logvar))
    if -2 * exact > sys.float_info.max:  # the bracket is beyond the largest float
        assert out == -math.inf
    else:
        assert out == pytest.approx(float(exact), rel=1e-10, abs=1e-10)


@settings(deadline=None, max_examples=100)
@given(points, points, logvars, logvars)
def test_kl_normal_in_log_variances_matches_mpmath(mu_q, mu_p, logvar_q, logvar_p):
    mpmath.mp.dps = 50
    ratio = mpmath.mpf(logvar_q) - mpmath.mpf(logvar_p)
    square = (mpmath.mpf(mu_q) - mpmath.mpf(mu_p)) ** 2 * mpmath.exp(-mpmath.mpf(logvar_p))
    exact = 0.5 * (mpmath.expm1(ratio) - ratio + square)
    out = float(kl.kl_normal(mu_q, mu_p=mu_p, logvar_q=logvar_q, logvar_p=logvar_p))
    if 2 * exact > sys.float_info.max:
        assert out == math.inf
    else:
        assert out == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


@settings(deadline=None, max_examples=50)
@given(st.floats(-5, 5), st.floats(-5, 5), st.floats(-1e4, 5))
def test_log_aggregate_posterior_of_one_component_is_its_log_density(z, mu, logvar):
    args = [torch.tensor([[v, -v]], dtype=torch.float64) for v in (z, mu)]
    lv = torch.full((1, 2), logvar, dtype=torch.float64)
    out = float(diagnostics.log_aggregate_posterior(args[0].float(), args[1], lv))
    expected = float(densities.log_normal(args[0].float().double(), args[1], logvar=lv).sum())
    assert out == pytest.approx(expected, rel=1e-10, abs=1e-7) or out == expected == -math.inf


@settings(deadline=None, max_examples=50)
@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=8))
def test_jensen_gap_is_non_negative_and_matches_mpmath(log_w):
    mpmath.mp.dps = 50
    exact = mpmath.log(sum(mpmath.exp(mpmath.mpf(v)) for v in log_w) / len(log_w)) - mpmath.fsum(
        log_w
    ) / len(log_w)
    out = float(bounds.jensen_gap(np.array(log_w)))
    assert out >= 0
    assert out == pytest.approx(float(exact), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("mu", "var"), [(1.0, 1e-300), (1e150, 1.0), (0.7, 0.5)])
def test_the_score_function_estimate_is_unbiased_at_extreme_means_and_variances(mu, var):
    """f(z) = z² has gradient (2μ, σ²) in (μ, log σ²); the estimate lies within 5 standard errors
    of it, and a standard error of 0 never poses as exactness."""
    rows = estimators.score_function_gradients(square, mu, var, 20_000, seed=1)
    mean, error = checks.mean_and_standard_error(rows / np.array([max(abs(mu), 1.0) ** 2, 1.0]))
    exact = np.array([2 * mu, var]) / np.array([max(abs(mu), 1.0) ** 2, 1.0])
    assert np.all(error > 0)
    assert np.all(np.abs(mean - exact) <= 5 * error)


def test_f_that_changes_its_samples_in_place_changes_nothing_else():
    clean = estimators.score_function_gradients(lambda z: z**2, 0.7, 0.5, 1000, seed=1)
    dirty = estimators.score_function_gradients(lambda z: z.pow_(2), 0.7, 0.5, 1000, seed=1)
    np.testing.assert_array_equal(clean, dirty)


def test_reverse_kl_of_a_point_mass_and_off_the_grid():
    log_p = stats.norm(0.0, 1.0).logpdf(GRID)
    point = divergences.reverse_kl(0.0, 1e-160, log_p, GRID)  # all of q on the grid point 0
    weights = np.diff(GRID)[0]
    p_at_0 = np.exp(log_p[30]) / (np.exp(log_p) @ divergences._trapezoid_weights(GRID))
    assert point == pytest.approx(np.log(1 / weights) - np.log(p_at_0), rel=1e-9)
    with pytest.raises(ValueError, match="mean and std"):
        divergences.reverse_kl(1e300, 1.0, log_p, GRID)


def test_moments_of_huge_but_finite_values_are_finite():
    var, error = checks.variance_and_standard_error([1e150, -1e150, 5e149, 2e149])
    unit_var, unit_error = checks.variance_and_standard_error([1.0, -1.0, 0.5, 0.2])
    assert var == pytest.approx(unit_var * 1e300, rel=1e-12)
    assert error == pytest.approx(unit_error * 1e300, rel=1e-12) and error > 0


# ---------------------------------------------------------------- the outcome table


def outcome_table():
    """Every hostile value of every declared parameter of every public callable, and every valid
    spelling of a scalar, called once: a count of the outcomes (a markdown table)."""
    counts = dict.fromkeys(
        (
            "ValueError naming the argument",
            "ValueError naming something else",
            "accepted where it should refuse",
            "foreign exception",
            "hang past 20 s",
            "memory blow-up (MemoryError)",
            "valid spelling accepted, no NaN",
            "valid spelling: silent NaN",
            "valid spelling refused",
        ),
        0,
    )
    for name, parameter in CASES:
        kind = validation.declared(public_callables()[name])[parameter]
        values = [
            v for v in hostile_values(kind)[0] if v is not None or "optional" not in kind.limits
        ]
        for bad in values:
            function, kwargs = BASELINES[name]()
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # what checks print
                    problem = _refused_by_name(function, kwargs, parameter, bad)
            except MemoryError:
                counts["memory blow-up (MemoryError)"] += 1
                continue
            except Exception:  # counted
                counts["foreign exception"] += 1
                continue
            if problem is None:
                counts["ValueError naming the argument"] += 1
            elif "hangs" in problem:
                counts["hang past 20 s"] += 1
            elif "names something else" in problem:
                counts["ValueError naming something else"] += 1
            else:
                counts["accepted where it should refuse"] += 1
        if name in SLOW:
            continue
        for spelling in valid_spellings(kind, BASELINES[name]()[1].get(parameter)):
            function, kwargs = BASELINES[name]()
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    _no_nan(_call(function, kwargs | {parameter: spelling}))
            except AssertionError:
                counts["valid spelling: silent NaN"] += 1
            except Exception:  # counted
                counts["valid spelling refused"] += 1
            else:
                counts["valid spelling accepted, no NaN"] += 1
    lines = ["| outcome | calls |", "|---|---|"]
    lines += [f"| {outcome} | {n:,} |" for outcome, n in counts.items()]
    lines.append(f"| (public callables: {len(BASELINES)}; declared parameters: {len(CASES)}) | |")
    return "\n".join(lines)


if __name__ == "__main__":  # PYTHONPATH=$PWD .venv/bin/python tests/test_validation.py
    import resource
    import warnings

    warnings.simplefilter("ignore")
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # a blow-up fails at 6 GB
    print(outcome_table())
