"""Planar flows against autograd's Jacobian, their inverse and density against quadrature, the flow
ELBO against the exact log-evidence of a 2-D latent, and their errors."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd.functional import jacobian
from torch.distributions import MultivariateNormal

from elbo_lib import diagnostics
from elbo_lib.data import load_digits
from elbo_lib.flows import (
    FlowPosterior,
    PlanarFlow,
    fit_flow,
    grid_kl,
    grid_log_density,
    log_weights,
)
from elbo_lib.vae import VAE, train_vae


def random_flow(dim, length, seed, scale=1.0, violate=False, batch=None):
    """A flow with random parameters of size ``scale``; ``violate`` makes every wᵀu < −1, where
    z + u tanh(wᵀz + b) itself would not be invertible."""
    torch.manual_seed(seed)
    flow = PlanarFlow(dim, length, batch=batch).double()
    with torch.no_grad():
        for p in (flow.u, flow.w, flow.b):
            p.copy_(scale * torch.randn_like(p))
        if violate:
            w = flow.w
            flow.u.copy_(-(1.5 + torch.rand((*w.shape[:-1], 1))) * w / (w**2).sum(-1, keepdim=True))
    return flow


def autograd_log_det(flow, z):
    """log |det ∂f/∂z| of each point from the full Jacobian, by autograd."""
    return torch.stack(
        [torch.linalg.slogdet(jacobian(lambda p: flow(p[None])[0][0], p))[1] for p in z]
    )


@pytest.mark.parametrize("violate", [False, True])
@pytest.mark.parametrize(("dim", "length"), [(1, 1), (2, 1), (2, 4), (3, 3), (5, 8)])
def test_log_det_is_autograds_jacobian(dim, length, violate):
    flow = random_flow(dim, length, seed=dim + length, violate=violate)
    if violate:
        assert ((flow.w * flow.u).sum(-1) < -1).all()  # the raw u would not be invertible
    z = 2 * torch.randn(20, dim, dtype=torch.float64)
    out, log_det = flow(z)
    assert out.shape == z.shape and log_det.shape == (20,)
    torch.testing.assert_close(log_det, autograd_log_det(flow, z), rtol=0, atol=1e-10)


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 4), st.integers(1, 6), st.floats(0.05, 5.0), st.integers(0, 10**6))
def test_log_det_matches_autograd_for_any_parameters(dim, length, scale, seed):
    flow = random_flow(dim, length, seed, scale=scale)
    z = torch.randn(5, dim, dtype=torch.float64)
    torch.testing.assert_close(flow(z)[1], autograd_log_det(flow, z), rtol=0, atol=1e-9)


def test_u_hat_meets_the_invertibility_condition():
    flow = random_flow(3, 50, seed=1, scale=3.0, violate=True)
    wu_hat = (flow.w * flow.u_hat()).sum(-1)
    wu = (flow.w * flow.u).sum(-1)
    torch.testing.assert_close(wu_hat, torch.nn.functional.softplus(wu) - 1, rtol=0, atol=1e-12)
    assert (wu_hat > -1).all()
    # û differs from u only along w
    along = (flow.u_hat() - flow.u) / flow.w
    torch.testing.assert_close(along, along[..., :1].expand_as(along), rtol=0, atol=1e-9)


@pytest.mark.parametrize("violate", [False, True])
def test_each_layer_is_monotone_along_w(violate):
    flow = random_flow(2, 1, seed=3, scale=2.0, violate=violate)
    w, b = flow.w[0].detach(), flow.b[0].detach()
    normal = torch.stack([-w[1], w[0]]).detach()  # a point moved along w only changes wᵀz
    alpha = torch.linspace(-20, 20, 20001, dtype=torch.float64)
    line = alpha[:, None] * w / (w**2).sum() + 0.7 * normal - b * w / (w**2).sum()
    projected = flow(line)[0] @ w
    assert (projected.diff() > 0).all()


@pytest.mark.parametrize("violate", [False, True])
def test_the_flow_is_injective(violate):
    flow = random_flow(2, 6, seed=4, scale=1.5, violate=violate)
    z = 3 * torch.randn(5000, 2, dtype=torch.float64)
    torch.testing.assert_close(flow.inverse(flow(z)[0]), z, rtol=0, atol=1e-6)
    # no two of many close points land on one point
    axis = torch.linspace(-3, 3, 61, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    out = flow(grid)[0]
    assert torch.cdist(out, out).add(torch.eye(len(out), dtype=out.dtype)).min() > 1e-6


def test_batched_flows_are_independent_flows():
    flow = random_flow(2, 3, seed=5, batch=4)
    z = torch.randn(7, 4, 2, dtype=torch.float64)
    out, log_det = flow(z)
    assert log_det.shape == (7, 4)
    for i in range(4):
        single = PlanarFlow(2, 3).double()
        with torch.no_grad():
            for mine, theirs in zip(single.parameters(), flow.parameters(), strict=True):
                mine.copy_(theirs[:, i])
        torch.testing.assert_close(single(z[:, i]), (out[:, i], log_det[:, i]))


def test_length_zero_is_the_identity():
    z = torch.randn(6, 3)
    out, log_det = PlanarFlow(3, 0)(z)
    assert torch.equal(out, z) and torch.equal(log_det, torch.zeros(6))


def square_grid(n_images, extent=8.0, n=241):
    axis = torch.linspace(-extent, extent, n, dtype=torch.float64)
    return {"z1": axis, "z2": axis, "log_posterior": torch.zeros(n_images, n, n)}


def flow_posterior(length, seed, n=3, scale=1.0):
    torch.manual_seed(seed)
    q = FlowPosterior(0.5 * torch.randn(n, 2), 0.5 * torch.randn(n, 2) - 0.5, length).double()
    with torch.no_grad():
        for p in q.flow.parameters():
            p.copy_(scale * torch.randn_like(p))
    return q


@pytest.mark.parametrize("length", [1, 2, 4])
def test_the_flows_density_integrates_to_one(length):
    # parameters of size 0.4 keep every wᵀû away from −1, where the density piles up on a line
    # thinner than the grid's cells (and ten such layers on ten lines)
    q = flow_posterior(length, seed=length, scale=0.4)
    grid = square_grid(3)
    mass = grid_log_density(grid, q).exp().sum((1, 2)) * float(grid["z1"][1] - grid["z1"][0]) ** 2
    assert (mass - 1).abs().max() < 1e-4, mass


def test_the_density_of_the_draws_is_the_density_at_them():
    q = flow_posterior(5, seed=6)
    z, log_q = q.sample(torch.randn(100, 3, 2, dtype=torch.float64))
    torch.testing.assert_close(q.log_density(z), log_q.detach(), rtol=0, atol=1e-6)


def test_length_zero_is_the_gaussian():
    q = flow_posterior(0, seed=7)
    z = torch.randn(50, 3, 2, dtype=torch.float64)
    gaussian = MultivariateNormal(q.mu.detach(), torch.diag_embed(q.logvar.detach().exp()))
    torch.testing.assert_close(q.log_density(z), gaussian.log_prob(z), rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def two_d():
    x_train, x_test, _, _ = load_digits()
    torch.manual_seed(0)
    model = VAE(z_dim=2, hidden=(32,))
    train_vae(model, x_train, epochs=8, lr=3e-3)
    model.requires_grad_(False)
    x = x_test[:4]
    return model, x, diagnostics.posterior_on_grid(model, x, extent=5.0, n=161)


def test_log_p_x_minus_the_flow_elbo_is_the_kl_by_quadrature(two_d):
    model, x, grid = two_d
    q = flow_posterior(3, seed=8, n=4, scale=0.5).float()
    with torch.no_grad():
        q.mu.copy_(model.encode(x)[0])
        draws = log_weights(model, x, q, torch.randn(20000, 4, 2))
    elbo, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    kl = grid_kl(grid, q)
    assert (kl > 0).all()
    z = (grid["log_evidence"] - elbo - kl) / se
    assert z.abs().max() < 4, z


def test_a_fitted_flow_beats_the_fitted_gaussian(two_d):
    model, x, grid = two_d
    gaussian = grid_kl(grid, fit_flow(model, x, 0, steps=300, anneal=150))
    flow = grid_kl(grid, fit_flow(model, x, 4, steps=300, anneal=150))
    assert flow.mean() < 0.8 * gaussian.mean(), (flow, gaussian)


def test_fit_flow_is_deterministic_and_leaves_the_global_state(two_d):
    model, x, _ = two_d
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    a = fit_flow(model, x, 2, steps=20, anneal=10, seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = fit_flow(model, x, 2, steps=20, anneal=10, seed=3)
    for p, r in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, r)
    for p, g in zip(model.parameters(), grads, strict=True):  # the decoder is left alone
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: PlanarFlow(0, 2), "dim"),
        (lambda: PlanarFlow(2, -1), "length"),
        (lambda: PlanarFlow(2, 1.5), "length"),
        (lambda: PlanarFlow(2, 2, batch=0), "batch"),
        (lambda: PlanarFlow(2, 2)(None), "z"),
        (lambda: PlanarFlow(2, 2)(torch.full((3, 2), math.nan)), "z"),
        (lambda: PlanarFlow(2, 2)(torch.zeros(3, 3)), "z"),
        (lambda: PlanarFlow(2, 2)(torch.zeros(2)), "z"),
        (lambda: PlanarFlow(2, 2).inverse(torch.full((3, 2), math.inf)), "y"),
        (lambda: PlanarFlow(2, 2, batch=3)(torch.zeros(5, 2, 2)), "z"),
        (lambda: FlowPosterior(torch.zeros(2, 2), torch.zeros(3, 2), 1), "logvar"),
        (lambda: FlowPosterior(torch.zeros(2, 2), None, 1), "logvar"),
        (
            lambda: FlowPosterior(torch.zeros(2, 2), torch.zeros(2, 2), 1).sample(
                torch.zeros(4, 2)
            ),
            "eps",
        ),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_bad_input_to_the_fit_and_the_grid_names_the_argument(two_d):
    model, x, grid = two_d
    q = FlowPosterior(torch.zeros(4, 2), torch.zeros(4, 2), 1)
    for call, name in [
        (lambda: fit_flow(model, x, 1, steps=0), "steps"),
        (lambda: fit_flow(model, x, 1, lr=-1.0), "lr"),
        (lambda: fit_flow(model, x, 1, anneal=0), "anneal"),
        (lambda: fit_flow(None, x, 1), "model"),
        (lambda: fit_flow(model, x + 2, 1), "x"),
        (lambda: log_weights(model, x[:3], q, torch.zeros(5, 4, 2)), "x"),
        (lambda: log_weights(model, x, "q", torch.zeros(5, 4, 2)), "q"),
        (lambda: grid_kl({"z1": 1}, q), "grid"),
        (
            lambda: grid_log_density(grid, FlowPosterior(torch.zeros(2, 2), torch.zeros(2, 2), 1)),
            "grid",
        ),
    ]:
        with pytest.raises(ValueError, match=rf"\b{name}\b"):
            call()
