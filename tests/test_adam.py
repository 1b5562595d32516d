"""Adam against torch.optim.Adam and its update written out (bad input: test_validation)."""

import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from elbo_lib.adam import Adam
from elbo_lib.vae import VAE


def _descend(optimizer_of, model, x, steps):
    optimizer = optimizer_of(list(model.parameters()))
    for _ in range(steps):
        rec, kl = model.elbo_terms(x, per_dimension=True)
        loss = kl.sum(-1).mean() - rec.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("foreach", [False, True])
def test_adam_equals_torch_adam_to_the_last_bit(foreach, make=VAE):
    x = torch.rand(32, 64).round()
    torch.manual_seed(0)
    ours = _descend(lambda p: Adam(p, lr=3e-3), make(), x, steps=25)
    torch.manual_seed(0)
    theirs = _descend(lambda p: torch.optim.Adam(p, lr=3e-3, foreach=foreach), make(), x, 25)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


@settings(max_examples=30, deadline=None)
@given(st.floats(1e-4, 1.0), st.floats(-10, 10), st.integers(1, 30))
def test_adam_on_a_quadratic_follows_the_closed_form(lr, start, steps):
    # loss θ²/2 has gradient θ: run the update of the docstring by hand, in float64
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=lr)
    expected, m, v = start, 0.0, 0.0
    for t in range(1, steps + 1):
        optimizer.zero_grad()
        (0.5 * theta**2).backward()
        optimizer.step()
        g = expected
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        expected -= lr / (1 - 0.9**t) * m / ((v / (1 - 0.999**t)) ** 0.5 + 1e-8)
    assert theta.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_training_does_not_load_torchs_compiler():
    code = (
        "import sys, torch; from elbo_lib.vae import VAE, train_vae;"
        "from elbo_lib.diagnostics import amortization_gap;"
        "m = VAE(); x = torch.rand(20, 64).round(); train_vae(m, x, epochs=1);"
        "amortization_gap(m, x, steps=2); print('torch._dynamo' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


@pytest.mark.parametrize(
    "options",
    [{}, {"weight_decay": 0.1}, {"maximize": True}, {"betas": (0.5, 0.9), "eps": 1e-3}],
)
@pytest.mark.parametrize("foreach", [False, True])
def test_adam_takes_torch_s_options_to_the_last_bit(options, foreach):
    torch.manual_seed(0)
    ours, theirs = torch.randn(5, requires_grad=True), None
    theirs = ours.detach().clone().requires_grad_()
    unused = torch.ones(2, requires_grad=True)  # no gradient: skipped (weight decay would move it)
    a = Adam([ours, unused], lr=0.1, **options)
    b = torch.optim.Adam(
        [theirs, unused.detach().clone().requires_grad_()], lr=0.1, foreach=foreach, **options
    )
    for _ in range(4):
        for p, opt in ((ours, a), (theirs, b)):
            opt.zero_grad()
            (p**3).sum().backward()
            opt.step()
    assert torch.equal(ours, theirs)
    assert torch.equal(unused, torch.ones(2))


def test_adam_refuses_a_tensor_listed_twice_and_amsgrad_by_name():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"params\[1\] is params\[0\]"):
        Adam([p, p], lr=0.1)
    with pytest.raises(ValueError, match="amsgrad"):
        Adam([p], lr=0.1, amsgrad=True)
