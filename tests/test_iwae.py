"""The IWAE loss and its gradient estimators against importance sampling written out with
torch.distributions, the ELBO at K = 1, and Monte Carlo: the doubly reparameterised gradient is
unbiased for the IWAE gradient and less noisy for the encoder; training on the bound."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch.distributions import Bernoulli, Normal

from elbo_lib.bounds import iwae_bound
from elbo_lib.checks import mean_and_standard_error
from elbo_lib.data import load_digits
from elbo_lib.iwae import (
    encoder_gradient_snr,
    encoder_gradients,
    iwae_run,
    paired_difference,
    snr_floor,
)
from elbo_lib.vae import VAE, importance_weighted_loss, negative_elbo, negative_iwae, train_vae


@pytest.fixture(scope="module")
def digits():
    x_train, x_test, _, _ = load_digits()
    return x_train[:256], x_test[:64]


def tiny(seed=0):
    torch.manual_seed(seed)
    return VAE(z_dim=3, hidden=(16,))


def by_hand(model, x, eps):
    """log r (B, K), log p(x | z_k) (K, B) and log q(z_k) - log p(z_k) per unit (K, B, d),
    written out with torch.distributions, at z_k = mu + s * eps_k for eps (K, B, d)."""
    mu, logvar = model.encode(x)
    return by_hand_at(model, x, mu + (0.5 * logvar).exp() * eps, mu, logvar)


def by_hand_at(model, x, z, mu, logvar):
    """As :func:`by_hand`, at given draws z (K, B, d) of q = N(mu, exp(logvar))."""
    q = Normal(mu, (0.5 * logvar).exp())
    log_likelihood = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
    log_prior, log_q = Normal(0.0, 1.0).log_prob(z), q.log_prob(z)
    log_w = (log_likelihood + log_prior.sum(-1) - log_q.sum(-1)).T
    return log_w, log_likelihood, log_q - log_prior


def flat_gradient(loss, parameters):
    gradients = torch.autograd.grad(loss, list(parameters), retain_graph=True)
    return torch.cat([g.flatten() for g in gradients])


def test_the_loss_is_minus_the_mean_importance_sampled_bound(digits):
    model, x, k = tiny(), digits[1][:6], 7
    with torch.random.fork_rng():
        torch.manual_seed(3)
        eps = torch.randn(k, 6, 3)  # the draws importance_weighted_loss makes from its seed
    log_w, _, _ = by_hand(model, x, eps)
    expected = -(torch.logsumexp(log_w, 1) - math.log(k)).mean()
    torch.testing.assert_close(importance_weighted_loss(model, x, k, seed=3), expected)
    torch.testing.assert_close(negative_iwae(log_w), expected)


def test_with_one_sample_the_iwae_loss_is_the_negative_elbo_of_the_same_draw(digits):
    model, x = tiny(), digits[1][:8]
    eps = torch.randn(1, 8, 3, generator=torch.Generator().manual_seed(1))
    log_w, log_likelihood, kl_draw = by_hand(model, x, eps)
    iwae = negative_iwae(log_w)
    elbo = negative_elbo(log_likelihood[0], kl_draw[0])  # the KL of the same draw, per unit
    assert torch.equal(iwae, -log_w[:, 0].mean())  # log-mean-exp of one number is that number
    torch.testing.assert_close(iwae, elbo, rtol=0, atol=1e-5)
    parameters = list(model.parameters())
    torch.testing.assert_close(
        flat_gradient(iwae, parameters), flat_gradient(elbo, parameters), rtol=1e-5, atol=1e-6
    )


def test_with_one_sample_the_expected_gradient_is_the_elbo_gradient_with_the_exact_kl(digits):
    model, x, draws = tiny(), digits[1][:4], 4000
    train_vae(model, digits[0], epochs=3)
    iwae = encoder_gradients(model, x, 1, draws=draws, seed=1).numpy()
    # the ELBO with the KL in closed form, its gradient in each image's (mu, log s2) per draw
    mu0, logvar0 = (t.detach() for t in model.encode(x))
    mu = mu0.expand(draws, 4, 3).clone().requires_grad_()
    logvar = logvar0.expand(draws, 4, 3).clone().requires_grad_()
    eps = torch.randn(draws, 4, 3, generator=torch.Generator().manual_seed(2))
    z = mu + (0.5 * logvar).exp() * eps
    kl = 0.5 * (logvar.exp() - 1 - logvar + mu**2).sum(-1)
    elbo = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1) - kl
    reference = torch.cat(torch.autograd.grad(elbo.sum(), [mu, logvar]), -1).numpy()
    (m1, se1), (m2, se2) = mean_and_standard_error(iwae), mean_and_standard_error(reference)
    z_scores = np.abs(m1 - m2) / np.hypot(se1, se2)
    assert np.all(z_scores < 5), z_scores.max()
    assert np.max(np.abs(m1 - m2)) < 0.2 * np.max(np.abs(m2))  # the test has power


@pytest.mark.parametrize("k", [1, 5])
def test_dreg_changes_the_encoder_gradient_alone_and_is_the_doubly_reparameterised_formula(
    digits, k
):
    model, x = tiny(), digits[1][:5]
    pathwise = importance_weighted_loss(model, x, k, seed=2)
    dreg = importance_weighted_loss(model, x, k, "dreg", seed=2)
    assert torch.equal(pathwise, dreg)  # the same bound, only its gradient differs
    decoder, encoder = list(model.decoder.parameters()), list(model.encoder.parameters())
    torch.testing.assert_close(flat_gradient(pathwise, decoder), flat_gradient(dreg, decoder))
    # Tucker et al. (2019), eq. 7, by hand: -1/B sum_b sum_k w_k^2 d log r_k/d z_k dz_k/d phi,
    # with q's parameters held fixed inside log q
    with torch.random.fork_rng():
        torch.manual_seed(2)
        eps = torch.randn(k, 5, 3)
    mu, logvar = model.encode(x)
    z = mu + (0.5 * logvar).exp() * eps
    z_leaf = z.detach().requires_grad_()
    log_w, _, _ = by_hand_at(model, x, z_leaf, mu.detach(), logvar.detach())
    (d_log_w,) = torch.autograd.grad(log_w.sum(), z_leaf)
    weights = torch.softmax(log_w.detach(), 1).T.unsqueeze(-1)
    expected = torch.autograd.grad(z, encoder, grad_outputs=-(weights**2) * d_log_w / 5)
    expected = torch.cat([g.flatten() for g in expected])
    torch.testing.assert_close(flat_gradient(dreg, encoder), expected, rtol=1e-4, atol=1e-6)
    if k > 1:  # where the weights are not all 1 the two estimators differ
        pathwise = importance_weighted_loss(model, x, k, seed=2)
        assert not torch.allclose(flat_gradient(pathwise, encoder), expected)


def test_encoder_gradients_are_the_two_estimators_written_out(digits):
    model, x, k, draws = tiny(), digits[1][:2], 5, 3
    mu0, logvar0 = (t.detach() for t in model.encode(x))
    with torch.random.fork_rng():
        torch.manual_seed(9)
        eps = torch.randn(draws, k, 2, 3)
    for estimator in ("pathwise", "dreg"):
        got = encoder_gradients(model, x, k, estimator, draws=draws, seed=9)
        for s in range(draws):
            mu, logvar = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
            z = mu + (0.5 * logvar).exp() * eps[s]
            if estimator == "pathwise":
                log_w, _, _ = by_hand_at(model, x, z, mu, logvar)
                bound = torch.logsumexp(log_w, 1) - math.log(k)
                expected = torch.autograd.grad(bound.sum(), [mu, logvar])
            else:  # Tucker et al. (2019), eq. 7: sum_k w_k^2 d log r_k/d z_k dz_k/d(mu, log s2)
                z_leaf = z.detach().requires_grad_()
                log_w, _, _ = by_hand_at(model, x, z_leaf, mu0, logvar0)
                (d_log_w,) = torch.autograd.grad(log_w.sum(), z_leaf)
                weights = torch.softmax(log_w.detach(), 1).T.unsqueeze(-1)
                expected = torch.autograd.grad(z, [mu, logvar], weights**2 * d_log_w)
            torch.testing.assert_close(got[s], torch.cat(expected, -1), rtol=1e-4, atol=1e-6)


def test_dreg_is_unbiased_for_the_iwae_gradient_and_less_noisy(digits):
    model, x = tiny(), digits[1][:4]
    train_vae(model, digits[0], epochs=3)
    pathwise = encoder_gradients(model, x, 8, "pathwise", draws=4000, seed=1).numpy()
    dreg = encoder_gradients(model, x, 8, "dreg", draws=4000, seed=2).numpy()
    (m1, se1), (m2, se2) = mean_and_standard_error(pathwise), mean_and_standard_error(dreg)
    z = np.abs(m2 - m1) / np.hypot(se1, se2)
    assert np.all(z < 5), z.max()
    assert np.mean(z < 2) > 0.85  # about 95 % of the 24 entries within two standard errors
    assert np.max(np.abs(m2 - m1)) < 0.2 * np.max(np.abs(m1))  # the test has power
    assert np.median(dreg.std(0) / pathwise.std(0)) < 0.7


def test_encoder_snr_falls_with_k_for_the_pathwise_gradient_and_not_for_dreg(digits):
    model, x = tiny(), digits[1][:4]
    train_vae(model, digits[0], epochs=3)
    snr = {
        (estimator, k): encoder_gradient_snr(model, x, k, estimator, draws=1000).mean().item()
        for estimator in ("pathwise", "dreg")
        for k in (1, 64)
    }
    assert snr["pathwise", 64] < 0.6 * snr["pathwise", 1]
    assert snr["dreg", 64] > 2 * snr["pathwise", 64]
    assert snr["dreg", 64] > 0.8 * snr["dreg", 1]


def test_encoder_snr_is_the_mean_over_the_spread_and_noise_alone_shows_the_floor():
    model, x = tiny(), torch.zeros(3, 64)
    g = encoder_gradients(model, x, 4, draws=50, seed=5)
    expected = g.mean(0).abs() / g.std(0)
    torch.testing.assert_close(encoder_gradient_snr(model, x, 4, draws=50, seed=5), expected)
    noise = torch.randn(400, 2000, generator=torch.Generator().manual_seed(0))
    for draws in (25, 400):
        ratio = noise[:draws].mean(0).abs() / noise[:draws].std(0)
        assert ratio.mean().item() == pytest.approx(snr_floor(draws), rel=0.1)


@settings(deadline=None)
@given(arrays(np.float64, st.integers(2, 12), elements=st.floats(-50, 50)))
def test_the_bound_of_k_weights_is_at_least_the_mean_bound_of_its_subsets(log_w):
    # Burda et al. (2016), theorem 1: the log of the mean of K weights is at least the mean, over
    # the K subsets of K - 1, of the log of their means (Jensen); in expectation L_K >= L_{K-1}
    subsets = [iwae_bound(np.delete(log_w, i)) for i in range(log_w.size)]
    assert iwae_bound(log_w) >= np.mean(subsets) - 1e-9


def test_the_bound_rises_with_k_on_a_vae(digits):
    model, x = tiny(), digits[1][:16]
    train_vae(model, digits[0], epochs=5)
    torch.manual_seed(0)
    with torch.no_grad():
        log_w = model.log_importance_weights(x.repeat(200, 1), 50).reshape(200, 16, 50)
    means = []
    for k in (1, 5, 50):  # 200 independent replicates of L_K for each image
        means.append(mean_and_standard_error(iwae_bound(log_w[..., :k]).mean(1).numpy()))
    for (small, se_small), (large, se_large) in itertools.pairwise(means):
        assert large > small + 0.1 and large - small > 4 * math.hypot(se_small, se_large)


def test_training_with_k_1_is_training_on_the_elbo(digits):
    assert train_vae(tiny(), digits[0], epochs=2, k=1) == train_vae(tiny(), digits[0], epochs=2)
    history = train_vae(tiny(), digits[0], epochs=2)
    assert history["bound"] == pytest.approx(history["elbo"], abs=1e-4)


@pytest.mark.parametrize("estimator", ["pathwise", "dreg"])
def test_training_on_the_iwae_bound_is_deterministic_and_raises_it(digits, estimator):
    x = digits[0]
    state = torch.random.get_rng_state()
    history = train_vae(tiny(), x, epochs=20, k=5, estimator=estimator, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert history == train_vae(tiny(), x, epochs=20, k=5, estimator=estimator, seed=3)
    assert set(history) == {"elbo", "reconstruction", "kl", "bound", "beta"}
    assert history["bound"][-1] > history["bound"][0] + 5
    assert all(b > e for b, e in zip(history["bound"], history["elbo"], strict=True))
    # the first step's bound is importance_weighted_loss's on the first batch, by hand
    model = tiny()
    with torch.random.fork_rng():
        torch.manual_seed(3)
        first = x[torch.randperm(len(x))][:128]
        eps = torch.randn(5, 128, 3)
    log_w, _, _ = by_hand(model, first, eps)
    seen = []
    train_vae(
        model,
        x,
        epochs=1,
        k=5,
        estimator=estimator,
        seed=3,
        batch_size=128,
        callback=lambda epoch, h: seen.append(h["bound"][0]),
    )
    assert seen[0] == pytest.approx(history["bound"][0])
    assert (torch.logsumexp(log_w, 1) - math.log(5)).mean().item() < seen[0] + 20


def test_dreg_training_reaches_the_bound_of_pathwise_training(digits):
    x = digits[0]
    pathwise = train_vae(tiny(), x, epochs=30, k=5, seed=1)
    dreg = train_vae(tiny(), x, epochs=30, k=5, estimator="dreg", seed=1)
    assert dreg["bound"][-1] > pathwise["bound"][-1] - 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, r"\bk\b"),
        ({"k": 2.5}, r"\bk\b"),
        ({"estimator": "reinforce"}, "estimator"),
        ({"k": 5, "beta": 2.0}, "beta and free_bits belong to the ELBO"),
        ({"k": 5, "free_bits": 0.5}, "beta and free_bits belong to the ELBO"),
        ({"estimator": "dreg", "beta": lambda t: 1.0}, "beta and free_bits"),
    ],
)
def test_bad_importance_weighted_training_arguments_are_refused(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_vae(tiny(), digits[0], epochs=1, **kwargs)


def test_diverging_importance_weighted_training_names_the_step(digits):
    with pytest.raises(ValueError, match="diverged at step"):
        train_vae(tiny(), digits[0], epochs=2, batch_size=32, lr=10.0, k=5)


def test_iwae_run_and_paired_difference(digits):
    x_train, x_test = digits
    rows = [
        iwae_run(x_train, x_test[:8], k=k, seed=seed, epochs=2, lr=1e-2, k_eval=20, z_dim=3)
        for seed in (0, 1)
        for k in (1, 5)
    ]
    assert rows[0]["log_likelihood"].shape == (8,) and 0 <= rows[0]["kl_units"] <= 3
    assert rows[0]["kl_per_dimension"].shape == (3,)
    differences = [
        pair[1]["log_likelihood"].mean() - pair[0]["log_likelihood"].mean()
        for pair in (rows[:2], rows[2:])
    ]
    mean, se = paired_difference(rows, "log_likelihood", 5)
    assert mean == pytest.approx(np.mean(differences))
    assert se == pytest.approx(np.std(differences, ddof=1) / math.sqrt(2))
