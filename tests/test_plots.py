"""Every figure function draws labelled axes with finite data."""

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from scipy import stats

from elbo_lib import plots, vae_plots
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
    label = next(text for text in ax.texts if text.get_text() == "gap = τ²/2 = 0.720 nats")
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


def test_estimate_histograms_draw_one_row_per_estimator_and_the_exact_gradient(ax):
    rng = np.random.default_rng(0)
    estimates = {"wide": rng.normal(2, 1, 300), "narrow": rng.normal(2, 0.1, 300)}
    plots.estimate_histograms(ax, estimates, 2.0, np.linspace(-4, 8, 121))
    assert labelled(ax) and finite(ax)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["wide", "narrow"]
    assert ax.lines[0].get_xdata()[0] == 2.0  # the exact gradient
    # each histogram fills its own row, 0.85 high at its tallest bin
    for top, fill in zip((1, 0), ax.collections, strict=True):
        heights = fill.get_paths()[0].vertices[:, 1]
        assert heights.min() == pytest.approx(top) and heights.max() == pytest.approx(top + 0.85)
    summaries = [text.get_text() for text in ax.texts]
    narrow = estimates["narrow"]
    assert summaries[1] == f"mean {narrow.mean():.3f}, std {narrow.std(ddof=1):.3f}"
    assert not any("off the axis" in text for text in summaries)


def test_estimate_histograms_report_estimates_off_the_axis(ax):
    plots.estimate_histograms(ax, {"a": np.array([0.0, 0.5, 10.0, 12.0])}, 0.0, [-1, 0, 1])
    assert ax.texts[0].get_text().endswith("50% off the axis")


def test_estimator_spread_draws_measured_points_and_the_one_over_root_n_law(ax):
    n = np.array([1, 10, 100])
    plots.estimator_spread(ax, n, {"a": 3 / np.sqrt(n)}, {"a": 9.0})
    assert labelled(ax) and finite(ax) and ax.get_xscale() == ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 3 / np.sqrt(n))


def test_mode_costs_draws_the_kl_curve_and_one_level_per_mode(ax):
    means, kl = np.linspace(-5, 5, 11), np.linspace(0.5, 2.0, 11)
    plots.mode_costs(ax, means, kl, {"−log 0.6": 0.51, "−log 0.4": 0.92})
    assert labelled(ax) and finite(ax) and len(ax.lines) == 3
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[1:] == ["−log 0.6 = 0.51 nats", "−log 0.4 = 0.92 nats"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.51, 0.51])


def gaussian_grid(mean, sd, extent=4.0, n=161):
    """A normalised log-density of N(mean, diag sd²) on the grid of posterior_on_grid."""
    axis = np.linspace(-extent, extent, n)
    z1, z2 = np.meshgrid(axis, axis)
    log_p = -0.5 * (((z1 - mean[0]) / sd[0]) ** 2 + ((z2 - mean[1]) / sd[1]) ** 2) - np.log(
        2 * np.pi * sd[0] * sd[1]
    )
    return axis, log_p


def test_posterior_and_q_shades_the_kappa_sigma_regions_of_a_gaussian_posterior(ax):
    mean, sd = np.array([0.5, -1.0]), np.array([0.4, 0.7])
    axis, log_p = gaussian_grid(mean, sd)
    vae_plots.posterior_and_q(
        ax, axis, axis, log_p, mean, np.log(sd**2), refined=(mean + 0.2, np.log(sd**2))
    )
    assert labelled(ax) and finite(ax)
    assert len(ax.lines) == 6  # 1, 2, 3 standard deviations of q and of q*
    # for a Gaussian the regions holding 99, 86, 39 % are its 3-, 2-, 1-σ ellipses, whose
    # density is the peak's times exp(−k²/2)
    peak = np.exp(log_p.max())
    levels = ax.collections[0].levels[:3]
    np.testing.assert_allclose(levels, peak * np.exp(-np.array([9, 4, 1]) / 2), rtol=0.03)
    # q's 3-σ ellipse is in view, and the view is square
    x, y = ax.lines[2].get_data()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < x.min() and x.max() < x1 and y0 < y.min() and y.max() < y1
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert [t.get_text()[:6] for t in ax.get_legend().get_texts()] == [
        "p(z | ",
        "q(z | ",
        "refine",
    ]


def test_posterior_and_q_leaves_the_key_to_one_figure_legend():
    fig = Figure(layout="constrained")
    axes = fig.subplots(1, 2)
    axis, log_p = gaussian_grid([0.0, 0.0], [1.0, 1.0])
    for ax in axes:
        vae_plots.posterior_and_q(ax, axis, axis, log_p, [0.0, 0.0], [0.0, 0.0], legend=False)
        assert ax.get_legend() is None
    vae_plots.posterior_legend(fig, refined=False)
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 2


def test_posterior_and_q_draws_a_posterior_held_by_one_grid_cell(ax):
    axis = np.linspace(-1, 1, 5)
    log_p = np.full((5, 5), -50.0)
    log_p[2, 2] = 0.0
    vae_plots.posterior_and_q(ax, axis, axis, log_p, [0.0, 0.0], [-4.0, -4.0])
    assert labelled(ax) and finite(ax)


def test_latent_manifold_puts_each_decoded_image_at_its_latent_point(ax):
    m, extent = 5, 2.0
    images = np.repeat((np.arange(m * m) / (m * m))[:, None], 64, axis=1).reshape(m, m, 64)
    vae_plots.latent_manifold(ax, images, extent)
    assert labelled(ax)
    (image,) = ax.images
    canvas = image.get_array()
    left, right, bottom, top = image.get_extent()
    pixel = (right - left) / canvas.shape[1]
    assert (left, bottom) == pytest.approx((-right, -top)) and top - bottom == right - left
    values = np.linspace(-extent, extent, m)
    for i, z2 in enumerate(values):
        for j, z1 in enumerate(values):
            # just right of and below the tile's centre lies a pixel of image (i, j)
            col = int((z1 + 0.5 * pixel - left) / pixel)
            row = int((top - (z2 - 0.5 * pixel)) / pixel)
            assert canvas[row, col] == images[i, j, 0], (i, j)


def test_latent_codes_writes_each_label_at_its_median_and_marks_the_point(ax):
    z = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [-1.0, 3.0], [-1.0, 5.0]])
    vae_plots.latent_codes(ax, z, np.array([7, 7, 7, 2, 2]), (0.5, -0.5))
    assert labelled(ax) and finite(ax)
    positions = {text.get_text(): text.get_position() for text in ax.texts}
    assert positions == {"2": (-1.0, 4.0), "7": (1.0, 1.0)}
    np.testing.assert_allclose(ax.lines[-1].get_xydata(), [[0.5, -0.5]])


def test_each_estimator_keeps_its_colour_in_both_estimator_figures():
    labels = ("score function", "score function, baseline", "pathwise")
    ax_histograms, ax_spread = Figure().subplots(1, 2)
    n = np.array([1, 10])
    plots.estimate_histograms(ax_histograms, {k: np.ones(5) for k in labels}, 1.0, [0, 1, 2])
    plots.estimator_spread(
        ax_spread, n, {k: 1 / np.sqrt(n) for k in labels[::2]}, dict.fromkeys(labels, 1.0)
    )
    fills = [to_rgb(fill.get_facecolor()[0]) for fill in ax_histograms.collections]
    points = [to_rgb(line.get_color()) for line in ax_spread.lines[::2]]  # measured, then the law
    assert fills[0] == points[0] and fills[2] == points[1] and fills[1] not in points
