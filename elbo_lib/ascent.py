r"""Gradient ascent in the parameters of a Gaussian :math:`q = \mathcal N(m, v)`: the paths
that the ELBO and the KL figures draw."""

import numpy as np

from elbo_lib.kl import kl_normal


def gradient_path(objective, mean, var, *, lr, steps):
    r"""Plain gradient ascent on ``objective(m, v)`` (e.g. an ELBO as a function of
    :math:`q = \mathcal N(m, v)`, written with torch) in the coordinates :math:`(m, \log v)`,
    which keep v positive: :math:`\theta \leftarrow \theta + \mathrm{lr}\,\nabla_\theta
    \mathrm{objective}`. Gradients come from torch autograd. Returns the visited (m, v) as a
    numpy array of shape (steps + 1, 2), starting with (mean, var).
    """
    import torch  # on use: the figures that only draw need no torch

    if not (isinstance(steps, int | np.integer) and steps >= 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (np.isfinite(mean) and np.isfinite(var) and var > 0):
        raise ValueError(f"need a finite mean and a positive var, got {mean!r} and {var!r}")
    path = np.empty((steps + 1, 2))
    path[0] = mean, np.log(var)
    for t in range(steps):
        theta = torch.tensor(path[t], requires_grad=True)
        (grad,) = torch.autograd.grad(objective(theta[0], torch.exp(theta[1])), theta)
        path[t + 1] = path[t] + lr * grad.numpy()
    path[:, 1] = np.exp(path[:, 1])
    return path


def kl_descent(mean, var, steps=40):
    r"""Gradient descent on :math:`\mathrm{KL}(\mathcal N(\mu, s^2)\,\|\,\mathcal N(0, 1))`
    from (μ, s²), step 0.15 in (μ, log s²): the path the KL term alone pulls q along."""
    return gradient_path(lambda m, v: -kl_normal(m, v), mean, var, lr=0.15, steps=steps)


def elbo_ascent(model, x, steps=60):
    r"""Gradient ascent on the ELBO of the linear-Gaussian model from q = prior in
    (μ, log s²), with the step :math:`1/L`, :math:`L = 1 + w^2/\sigma^2` the ELBO's curvature in
    μ: one exact (Newton) step in μ, and below the curvature :math:`\tfrac L2 s^2 \le \tfrac L2`
    in log s² on the way down from s² = 1, so it never overshoots. Returns the (μ, s²) path."""
    curvature = 1 + model.w**2 / model.sigma2
    return gradient_path(
        lambda mean, var: model.elbo(x, mean, var), 0.0, 1.0, lr=1 / curvature, steps=steps
    )
