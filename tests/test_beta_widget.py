import pytest

from elbo_lib.beta_widget import BetaWidget
from elbo_lib.data import load_digits

SMALL = {"epochs": 2, "hidden": (16,)}


@pytest.fixture(scope="module")
def data():
    x_train, x_test, _, y_test = load_digits()
    return x_train[:256], x_test[:64], y_test[:64]


def test_train_adds_a_point_and_redraws(data):
    widget = BetaWidget(*data, **SMALL)
    assert [beta for beta, _, _ in widget.points] == [1.0]
    first = widget.image.value
    widget.slider.value = 5.0
    assert len(widget.points) == 1  # moving the slider trains nothing
    widget.train_button.click()
    assert [beta for beta, _, _ in widget.points] == pytest.approx([1.0, 5.0])
    assert widget.image.value != first
    assert widget.progress.value == widget.progress.max == 2  # epochs
    assert not widget.train_button.disabled
    assert widget.status.value.startswith("β = 5")


def test_points_are_the_models_rate_and_distortion(data):
    from elbo_lib.rate_distortion import rate_distortion

    widget = BetaWidget(*data, betas=(0.1, 10.0), **SMALL)
    _, rate, distortion = widget.points[-1]
    assert (rate, distortion) == rate_distortion(widget.model, data[1])
    assert widget.points[0][1] > widget.points[1][1]  # β = 0.1 spends more rate than β = 10


def test_keywords_override_the_model_settings(data):
    widget = BetaWidget(*data, **SMALL)
    assert widget.settings.hidden == (16,) and widget.settings.z_dim == 2
    assert widget.model.hidden == (16,)
    with pytest.raises(TypeError, match="depth"):
        BetaWidget(*data, depth=3)


def test_reset_clears_the_plane(data):
    widget = BetaWidget(*data, **SMALL)
    before = widget.image.value
    widget.reset_button.click()
    assert widget.points == []
    assert widget.image.value != before
    widget.train(0.3)
    assert len(widget.points) == 1
