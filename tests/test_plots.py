"""Every figure function draws labelled axes with finite data."""

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from scipy import stats

from elbo_lib import plots
from elbo_lib.divergences import mixture_log_density
from elbo_lib.kl import kl_normal
from elbo_lib.linear_gaussian import LinearGaussian

MODEL = LinearGaussian(1.5, 0.5)

matplotlib.use("agg")


@pytest.fixture
def ax():
    return Figure().subplots()


def labelled(ax):
    return bool(ax.get_xlabel() and ax.get_ylabel() and ax.get_title())


def finite(ax):
    return all(np.all(np.isfinite(np.asarray(line.get_xydata(), float))) for line in ax.lines)


def test_jensen_chord_places_the_average_point_sigma_squared_over_two_below_the_curve(ax):
    plots.jensen_chord(ax, 1.2, np.random.default_rng(0).standard_normal(50))
    assert labelled(ax) and finite(ax) and ax.get_legend() is not None
    average = next(line for line in ax.lines if line.get_label() == r"$\mathbb{E}[\log Y]$")
    assert average.get_ydata()[0] == pytest.approx(-(1.2**2) / 2)
    # the gap's label names its size and sits right of the two points, on a white box
    label = next(text for text in ax.texts if text.get_text() == "gap = σ²/2 = 0.720 nats")
    assert label.get_position()[0] > 1.2
    assert label.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_jensen_gap_curve_is_sigma_squared_over_two(ax):
    plots.jensen_gap_curve(ax, 1.0)
    assert labelled(ax) and finite(ax)
    s, gap = ax.lines[0].get_data()
    np.testing.assert_allclose(gap, s**2 / 2)


def test_log_weights_of_the_posterior_are_flat_at_the_log_evidence(ax):
    mean, var = MODEL.posterior(2.0)
    plots.log_weights(ax, MODEL, 2.0, {"prior": (0.0, 1.0), "posterior": (mean, var)})
    assert labelled(ax) and finite(ax) and ax.get_legend() is not None
    np.testing.assert_allclose(ax.lines[1].get_ydata(), MODEL.log_evidence(2.0), rtol=1e-12)
    assert np.ptp(ax.lines[0].get_ydata()) > 1


def test_prior_q_posterior_draws_the_three_densities_of_scipy(ax):
    plots.prior_q_posterior(ax, MODEL, 2.0, -1.0, 0.3)
    assert labelled(ax) and len(ax.get_legend().get_texts()) == 3
    post_mean, post_var = MODEL.posterior(2.0)
    prior, posterior = ax.lines
    z = prior.get_xdata()
    np.testing.assert_allclose(prior.get_ydata(), stats.norm.pdf(z), rtol=1e-12)
    expected = stats.norm(post_mean, np.sqrt(post_var)).pdf(z)
    np.testing.assert_allclose(posterior.get_ydata(), expected, rtol=1e-12)
    (q,) = ax.collections  # the filled density of q, its top edge at N(z; -1, 0.3)
    top = q.get_paths()[0].vertices
    top = top[top[:, 1] > 0]
    np.testing.assert_allclose(top[:, 1], stats.norm(-1.0, np.sqrt(0.3)).pdf(top[:, 0]), rtol=1e-12)


def test_elbo_gap_bar_stacks_the_kl_on_the_elbo_up_to_the_log_evidence(ax):
    plots.elbo_gap_bar(ax, -2.0, -5.5)
    elbo, gap, evidence = ax.patches
    assert elbo.get_height() == pytest.approx(-5.5)
    assert elbo.get_height() + gap.get_height() == pytest.approx(evidence.get_height())
    assert gap.get_y() == pytest.approx(-5.5) and ax.get_ylabel() == "nats"


def test_elbo_and_kl_against_mean_add_up_to_the_log_evidence(ax):
    plots.elbo_and_kl_against_mean(ax, MODEL, 2.0, 0.2, np.linspace(-2, 3, 50))
    assert labelled(ax) and finite(ax) and "μ" in ax.get_xlabel() and "s² = 0.2" in ax.get_title()
    elbo, kl, total = (line.get_ydata() for line in ax.lines[:3])
    np.testing.assert_allclose(elbo + kl, MODEL.log_evidence(2.0), rtol=1e-12)
    np.testing.assert_allclose(total, MODEL.log_evidence(2.0), rtol=1e-12)


def test_mc_convergence_plots_absolute_errors_on_log_axes(ax):
    plots.mc_convergence(ax, [10, 100, 1000], [1.3, 0.9, 1.02], [0.3, 0.1, 0.03], 1.0)
    assert labelled(ax) and ax.get_xscale() == ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.3, 0.1, 0.02], atol=1e-12)


def test_kl_map_marks_the_point_with_its_kl_and_the_minimum(ax):
    plots.kl_map(ax, 1.5, 0.2, np.array([[1.5, 0.2], [0.5, 0.8]]))
    assert labelled(ax) and finite(ax) and ax.get_yscale() == "log"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert f"q: KL = {float(kl_normal(1.5, 0.2)):.3f} nats" in labels
    # contour labels in black, readable on every contour colour
    assert ax.texts and all(to_rgb(text.get_color()) == (0, 0, 0) for text in ax.texts)


def test_q_and_prior_draws_both_densities(ax):
    plots.q_and_prior(ax, 0.5, 0.01)
    assert labelled(ax) and finite(ax) and ax.get_ylim()[1] >= 1 / np.sqrt(2 * np.pi * 0.01)


def test_elbo_landscape_marks_the_closed_form_optimum(ax):
    path = np.array([[0.0, 1.0], [0.5, 0.6]])
    plots.elbo_landscape(ax, MODEL, 2.0, path)
    assert labelled(ax) and finite(ax)
    optimum = ax.lines[-1].get_xydata()[0]
    np.testing.assert_allclose(optimum, MODEL.posterior(2.0))


def test_prior_likelihood_posterior_normalises_the_likelihood_in_z(ax):
    plots.prior_likelihood_posterior(ax, MODEL, 2.0)
    assert labelled(ax) and finite(ax)
    z, likelihood = ax.lines[1].get_data()
    assert np.trapezoid(likelihood, z) == pytest.approx(1.0, abs=1e-2)


def test_latent_scatter_has_a_legend_per_class(ax):
    rng = np.random.default_rng(0)
    plots.latent_scatter(ax, rng.standard_normal((30, 2)), np.arange(30) % 3)
    assert labelled(ax) and len(ax.get_legend().get_texts()) == 3


def test_mixture_fits_draws_the_normalised_target_and_each_fit(ax):
    grid = np.linspace(-8, 8, 401)
    plots.mixture_fits(ax, grid, mixture_log_density(grid, 4.0, 0.3), {"a": (2, 1), "b": (0, 2)})
    assert ax.get_xlabel() and ax.get_ylabel() and finite(ax) and len(ax.lines) == 2
    assert np.trapezoid(ax.lines[0].get_ydata(), grid) == pytest.approx(1.0, abs=1e-6)


def test_fits_against_separation_draws_a_mean_per_fit_and_the_modes(ax):
    separations = np.linspace(0, 8, 5)
    rows = np.column_stack([separations / 2, np.ones(5)])
    plots.fits_against_separation(ax, separations, {"reverse": rows, "forward": rows * 0})
    assert labelled(ax) and finite(ax)


def test_gaussian_ellipses_have_the_right_extent(ax):
    plots.gaussian_ellipses(ax, np.zeros(2), {"p": np.diag([4.0, 1.0])}, n_std=2.0)
    assert labelled(ax) and finite(ax)
    x, y = ax.lines[0].get_data()
    assert x.max() == pytest.approx(4.0) and y.max() == pytest.approx(2.0, rel=1e-3)
