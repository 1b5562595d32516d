"""The VAE's densities against torch.distributions, its estimators against Monte Carlo references,
and the training loop's contract: determinism, schedules, free bits, errors."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Normal, kl_divergence

from elbo_lib.data import load_digits
from elbo_lib.diagnostics import linear_gaussian_log_likelihood
from elbo_lib.linear_gaussian import fit_ppca, ppca_log_likelihood
from elbo_lib.schedules import linear_warmup
from elbo_lib.vae import VAE, train_vae, training_steps


@pytest.fixture(scope="module")
def digits():
    x_train, x_test, _, _ = load_digits()
    return x_train[:256], x_test[:64]


def tiny(likelihood="bernoulli", seed=0):
    torch.manual_seed(seed)
    return VAE(z_dim=3, hidden=(16,), likelihood=likelihood)


class RecordingVAE(VAE):
    """Remembers the z at which the log-likelihood was last evaluated."""

    def log_likelihood(self, x, z):
        self.z = z
        return super().log_likelihood(x, z)


def test_bernoulli_log_likelihood_matches_torch_distributions_with_sample_axes(digits):
    model, x = tiny(), digits[1][:5]
    z = torch.randn(7, 5, 3)
    with torch.no_grad():
        expected = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
        got = model.log_likelihood(x, z)
    assert got.shape == (7, 5)
    torch.testing.assert_close(got, expected)


@settings(max_examples=20, deadline=None)
@given(st.floats(1e-3, 1e2))
def test_gaussian_log_likelihood_matches_torch_distributions(sigma2):
    model = tiny("gaussian")
    with torch.no_grad():
        model.log_sigma2.fill_(math.log(sigma2))
        x, z = torch.rand(5, 64), torch.randn(4, 5, 3)
        expected = Normal(model.decode(z), math.sqrt(sigma2)).log_prob(x).sum(-1)
        torch.testing.assert_close(model.log_likelihood(x, z), expected, rtol=1e-5, atol=1e-3)


def test_elbo_terms_kl_is_the_closed_form_normal_kl(digits):
    model, x = tiny(), digits[1]
    with torch.no_grad():
        mu, logvar = model.encode(x)
        _, kl = model.elbo_terms(x)
        _, kl_j = model.elbo_terms(x, per_dimension=True)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_j, expected)
    torch.testing.assert_close(kl, expected.sum(-1))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_elbo_terms_refuses_a_model_whose_outputs_are_not_finite(digits, likelihood, value):
    model = tiny(likelihood=likelihood)
    with torch.no_grad():
        model.encoder[-1].bias[-1] = value  # the log-variance of the last unit
    with pytest.raises(ValueError, match=r"finite|NaN|inf"):
        model.elbo_terms(digits[1][:4])


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_log_likelihood_refuses_a_decoder_whose_outputs_are_not_finite(digits, likelihood, value):
    model = tiny(likelihood=likelihood)
    with torch.no_grad():
        model.decoder[-1].bias[0] = value  # the first pixel's logit or mean
    with pytest.raises(ValueError, match=r"log p\(x \| z\) is not finite"):
        model.log_likelihood(digits[1][:4], torch.zeros(4, model.z_dim))


def test_elbo_terms_reconstruction_is_unbiased_for_the_expected_log_likelihood(digits):
    model, x = tiny(), digits[1][:8]
    samples = 4000
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = Normal(mu, (0.5 * logvar).exp()).sample((samples,))  # independent sampler
        reference = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
        estimates = model.elbo_terms(x.repeat(samples, 1))[0].reshape(samples, -1)
    tolerance = 5 * torch.sqrt(reference.var(0) / samples + estimates.var(0) / samples)
    assert torch.all((estimates.mean(0) - reference.mean(0)).abs() < tolerance)


def test_log_importance_weights_are_log_joint_minus_log_q():
    model = RecordingVAE(z_dim=3, hidden=(16,))
    x = (torch.rand(6, 64) > 0.5).float()
    with torch.no_grad():
        log_w = model.log_importance_weights(x, 5)
        z, (mu, logvar) = model.z, model.encode(x)
        expected = (
            Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
            + Normal(0.0, 1.0).log_prob(z).sum(-1)
            - Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
        ).T
    assert log_w.shape == (6, 5)
    torch.testing.assert_close(log_w, expected)


def test_mean_log_weight_estimates_the_elbo(digits):
    model, x = tiny(), digits[1][:8]
    k = 20_000
    torch.manual_seed(2)
    with torch.no_grad():
        log_w = model.log_importance_weights(x, k)
        reconstruction, kl = model.elbo_terms(x.repeat(k, 1))
    elbo_samples = (reconstruction - kl).reshape(k, -1)
    tolerance = 5 * torch.sqrt((log_w.var(1) + elbo_samples.var(0)) / k)
    assert torch.all((log_w.mean(1) - elbo_samples.mean(0)).abs() < tolerance)


def test_training_is_deterministic_and_leaves_the_global_random_state_alone(digits):
    x, model = digits[0], tiny()
    state = torch.random.get_rng_state()
    first = train_vae(model, x, epochs=3, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert first == train_vae(tiny(), x, epochs=3, seed=4)
    assert first != train_vae(tiny(), x, epochs=3, seed=5)


def test_history_holds_per_epoch_training_averages(digits):
    x = digits[0]
    model = tiny()
    history = train_vae(model, x, epochs=30, lr=3e-3, beta=linear_warmup(20), batch_size=64)
    assert all(len(values) == 30 for values in history.values())
    np.testing.assert_allclose(
        history["elbo"], np.subtract(history["reconstruction"], history["kl"])
    )
    # 4 steps per epoch: β at each epoch's last step t = 4e - 1 is min(1, t / 20)
    assert history["beta"][:6] == pytest.approx([3 / 20, 7 / 20, 11 / 20, 15 / 20, 19 / 20, 1.0])
    assert history["elbo"][-1] > history["elbo"][0] + 5
    # the last epoch's average is close to the trained model's ELBO on the same images
    torch.manual_seed(0)
    with torch.no_grad():
        reconstruction, kl = model.elbo_terms(x.repeat(20, 1))
    assert (reconstruction - kl).mean().item() == pytest.approx(history["elbo"][-1], abs=1.0)


def test_callback_sees_each_epoch_and_leaves_training_unchanged(digits):
    x = digits[0]
    seen = []

    def callback(epoch, history):
        seen.append((epoch, len(history["elbo"]), history["elbo"][-1]))

    plain = train_vae(tiny(), x, epochs=3, seed=1)
    watched = train_vae(tiny(), x, epochs=3, seed=1, callback=callback)
    assert watched == plain
    assert seen == [(e, e + 1, plain["elbo"][e]) for e in range(3)]
    assert training_steps(300, 3, batch_size=100) == 9
    assert training_steps(300, 3) == 9  # batches of 128: 128 + 128 + 44


def test_free_bits_above_every_kl_is_training_without_the_kl(digits):
    # when every unit's KL sits below λ the KL term is the constant z_dim · λ: no gradient
    x = digits[0]
    free = train_vae(tiny(), x, epochs=2, free_bits=1e3)
    no_kl = train_vae(tiny(), x, epochs=2, beta=0.0)
    for key in ("elbo", "reconstruction", "kl"):
        assert free[key] == no_kl[key]
    assert free["elbo"] != train_vae(tiny(), x, epochs=2)["elbo"]


def test_free_bits_keeps_the_kl_of_each_unit_up(digits):
    x = digits[0]
    plain = train_vae(tiny(), x, epochs=40, lr=3e-3, beta=4.0)
    free = train_vae(tiny(), x, epochs=40, lr=3e-3, beta=4.0, free_bits=1.0)
    assert free["kl"][-1] > plain["kl"][-1] + 0.5
    assert free["kl"][-1] == pytest.approx(3 * 1.0, abs=0.4)  # each of 3 units held near λ


def test_linear_gaussian_vae_approaches_the_ppca_maximum_likelihood():
    x = load_digits(binarize=False)[0][:400]
    torch.manual_seed(0)
    model = VAE(z_dim=2, hidden=(), likelihood="gaussian")
    train_vae(model, x, epochs=150, lr=1e-2)
    W, mean, sigma2 = fit_ppca(x.double().numpy(), 2)
    best = ppca_log_likelihood(x.double().numpy(), W, mean, sigma2).mean()
    reached = linear_gaussian_log_likelihood(model, x).mean().item()
    assert reached <= best + 1e-3  # pPCA is the maximum-likelihood linear-Gaussian model
    assert reached > best - 0.5  # measured: 0.12 nats short


def test_non_finite_loss_stops_training_with_the_step(digits):
    model = tiny()

    def poisoning_schedule(step):
        if step == 3:
            with torch.no_grad():
                model.decoder[-1].bias.fill_(math.nan)
        return 1.0

    with pytest.raises(ValueError, match="step 3"):
        train_vae(model, digits[0], epochs=2, beta=poisoning_schedule)


def test_progress_bar_runs(digits, capsys):
    train_vae(tiny(), digits[0][:64], epochs=1, progress=True)
    assert "training" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1.5}, "epochs"),
        ({"epochs": 1, "batch_size": 0}, "batch_size"),
        ({"epochs": 1, "beta": -1.0}, "beta"),
        ({"epochs": 1, "beta": lambda t: -0.5}, "beta at step 0"),
        ({"epochs": 1, "beta": math.nan}, "beta"),
        ({"epochs": 1, "lr": 0}, "lr"),
        ({"epochs": 1, "free_bits": -1}, "free_bits"),
    ],
)
def test_bad_training_arguments_are_refused(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_vae(tiny(), digits[0], **kwargs)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.zeros(4, 63), r"shape \(n, 64\)"),
        (torch.zeros(64), r"shape \(n, 64\)"),
        (torch.full((4, 64), math.nan), "NaN"),
        (torch.full((4, 64), 2.0), r"\[0, 1\]"),
        (torch.full((4, 64), -0.5), r"\[0, 1\]"),
        (np.zeros((4, 64)), "torch tensor"),
        (torch.zeros(4, 64, dtype=torch.int64), "floating"),
    ],
)
def test_bad_data_is_refused(x, message):
    model = tiny()
    with pytest.raises(ValueError, match=message):
        model.elbo_terms(x)
    with pytest.raises(ValueError, match=message):
        train_vae(model, x, epochs=1)


def test_gaussian_decoder_accepts_data_outside_the_unit_interval():
    reconstruction, _ = tiny("gaussian").elbo_terms(torch.full((4, 64), 2.0))
    assert torch.isfinite(reconstruction).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"likelihood": "poisson"}, "likelihood"),
        ({"z_dim": 0}, "z_dim"),
        ({"x_dim": 2.5}, "x_dim"),
        ({"hidden": (16, -1)}, "hidden"),
        ({"likelihood": "gaussian", "sigma2": 0.0}, "sigma2"),
    ],
)
def test_bad_model_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE(**kwargs)


def test_k_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="k must"):
        tiny().log_importance_weights(torch.zeros(2, 64), 0)


class BatchRecordingVAE(VAE):
    """Remembers every batch that training shows it."""

    batches = ()

    def elbo_terms(self, x, per_dimension=False):
        self.batches = [*self.batches, x.clone()]
        return super().elbo_terms(x, per_dimension)


@pytest.mark.parametrize("seed", range(4))
def test_every_epoch_shows_every_image_once_in_a_fresh_order(seed):
    x = torch.rand(40, 6, generator=torch.Generator().manual_seed(seed))  # distinct rows
    model = BatchRecordingVAE(x_dim=6, z_dim=2, hidden=(4,), likelihood="gaussian")
    train_vae(model, x, epochs=3, batch_size=16, seed=seed)
    # three epochs of three batches, then the last batch again: the check after the last update
    assert [len(b) for b in model.batches] == [16, 16, 8] * 3 + [8]
    orders = []
    for epoch in range(3):
        shown = torch.cat(model.batches[3 * epoch : 3 * epoch + 3])
        order = [int(torch.nonzero((x == row).all(1))[0]) for row in shown]
        assert sorted(order) == list(range(40))  # a permutation of the images
        orders.append(order)
    # shuffled: neither the data's order nor the order of another epoch (40! orders)
    assert orders[0] != list(range(40)) and orders[0] != orders[1] != orders[2]
