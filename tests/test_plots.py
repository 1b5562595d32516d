"""Every figure function draws labelled axes with finite data."""

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from elbo_lib import plots

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


def test_jensen_gap_curve_is_sigma_squared_over_two(ax):
    plots.jensen_gap_curve(ax, 1.0)
    assert labelled(ax) and finite(ax)
    s, gap = ax.lines[0].get_data()
    np.testing.assert_allclose(gap, s**2 / 2)
