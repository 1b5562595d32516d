import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

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
    """Against torch.distributions: the exact KL, and the distortion by 400 draws from q."""
    widget = BetaWidget(*data, betas=(0.1, 10.0), **SMALL)
    _, rate, distortion = widget.points[-1]
    x = data[1]
    with torch.no_grad():
        mu, logvar = widget.model.encode(x)
        q = Normal(mu, (0.5 * logvar).exp())
        assert rate == pytest.approx(kl_divergence(q, Normal(0.0, 1.0)).sum(-1).mean().item())
        eps = torch.randn((400, *mu.shape), generator=torch.Generator().manual_seed(0))
        z = mu + (0.5 * logvar).exp() * eps
        per_draw = -Bernoulli(logits=widget.model.decode(z)).log_prob(x).sum(-1).mean(1)
    # the widget's 10 draws against 400: within 5 standard errors of a 10-draw average
    tolerance = 5 * per_draw.std().item() / 10**0.5
    assert distortion == pytest.approx(per_draw.mean().item(), abs=tolerance)
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
