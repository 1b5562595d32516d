r"""Gradient ascent in the parameters of a Gaussian :math:`q = \mathcal N(\mu, s^2)`: the paths
that the ELBO and the KL figures draw."""

import math

import numpy as np

from elbo_lib.kl import kl_to_standard_normal
from elbo_lib.linear_gaussian import LinearGaussian
from elbo_lib.validation import (
    count,
    function,
    instance,
    positive_real,
    real,
    real_number,
    skip_validation,
    validate,
)

STEPS_LIMIT = 10**5
STEP = real(0.0, 1e3)  # a step size: beyond 1e3 every path here leaves the floats at once


@validate(
    objective=function,
    mean=real_number,
    var=positive_real,
    lr=STEP,
    steps=count(0, STEPS_LIMIT),
)
def gradient_path(objective, mean, var, *, lr, steps):
    r"""Plain gradient ascent on ``objective(mean, var)`` (e.g. an ELBO as a function of
    :math:`q = \mathcal N(\mu, s^2)`, written with torch) in the coordinates
    :math:`(\mu, \log s^2)`, which keep s² positive: :math:`\theta \leftarrow \theta
    + \mathrm{lr}\,\nabla_\theta \mathrm{objective}`. Gradients come from torch autograd.
    Returns the visited (μ, s²) as a numpy array of shape (steps + 1, 2), starting with
    (mean, var). The objective runs without input validation (its value is checked at every
    step).
    """
    import torch

    path = np.empty((steps + 1, 2))
    path[0] = mean, np.log(var)
    for t in range(steps):
        theta = torch.tensor(path[t], requires_grad=True)
        with skip_validation():
            value = objective(theta[0], torch.exp(theta[1]))
        (grad,) = torch.autograd.grad(value, theta)
        path[t + 1] = path[t] + lr * grad.numpy()
        if not (math.isfinite(value.item()) and all(map(math.isfinite, path[t + 1]))):
            raise ValueError(
                f"the objective or its gradient is not finite at step {t}, (m, v) = "
                f"({path[t, 0]!r}, {np.exp(path[t, 1])!r}): value {value.item()!r}"
            )
    path[:, 1] = np.exp(path[:, 1])
    return path


@validate(mean=real_number, var=positive_real, steps=count(0, STEPS_LIMIT))
def kl_descent(mean, var, steps=40):
    r"""Gradient descent on :math:`\mathrm{KL}(\mathcal N(\mu, s^2)\,\|\,\mathcal N(0, 1))`
    from (μ, s²), step 0.15 in (μ, log s²): the path the KL term alone pulls q along."""

    return gradient_path(
        lambda m, v: -kl_to_standard_normal(m, v, per_dimension=True),
        mean,
        var,
        lr=0.15,
        steps=steps,
    )


@validate(model=instance(LinearGaussian), x=real_number, steps=count(0, STEPS_LIMIT))
def elbo_ascent(model, x, steps=60):
    r"""Gradient ascent on the ELBO of the linear-Gaussian model from q = prior in
    (μ, log s²), with the step :math:`1/L`, :math:`L = 1 + w^2/\sigma^2` the ELBO's curvature in
    μ: one exact (Newton) step in μ, and below the curvature :math:`\tfrac L2 s^2 \le \tfrac L2`
    in log s² on the way down from s² = 1, so it never overshoots. Returns the (μ, s²) path."""

    curvature = 1 + model.w**2 / model.sigma2
    return gradient_path(
        lambda mean, var: model.elbo(x, mean, var), 0.0, 1.0, lr=1 / curvature, steps=steps
    )
