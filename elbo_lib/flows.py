r"""Normalizing flows for q(z | x): planar flows (Rezende & Mohamed 2015) on a Gaussian base.

A flow pushes a draw :math:`z_0 \sim q_0` through invertible maps :math:`z_L = T_L \circ \dots
\circ T_1(z_0)`; by the change of variables its density is

.. math:: \log q_L(z_L) = \log q_0(z_0) - \sum_{\ell=1}^L \log\Big|\det
          \frac{\partial T_\ell}{\partial z_{\ell-1}}\Big|,

and the ELBO of the flow is :math:`\mathbb E_{q_0}\big[\log p(x, z_L) - \log q_0(z_0)
+ \sum_\ell \log|\det \partial T_\ell / \partial z_{\ell-1}|\big]`. With the 2-D latent of
notebook 14 its density is also evaluated on a grid (by inverting the flow), to measure
:math:`\mathrm{KL}(q_L \,\|\, p(z \mid x))` by quadrature.
"""

import torch
from torch import nn
from torch.nn import functional

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.adam import LR_LIMIT, Adam
from elbo_lib.densities import LOG_2PI
from elbo_lib.diagnostics import DATA, GRID, MODEL, SAMPLES, grid_kl_of_density
from elbo_lib.vae import SIZE_LIMIT
from elbo_lib.validation import count, instance, optional, real, skip_validation, tensor, validate
from elbo_lib.validation import seed as seed_kind

INIT_SCALE = 0.1  # standard deviation of the initial u and w of a planar layer
_BISECTIONS = 30  # halvings of the interval that holds each layer's inverse: 2|c| / 2³⁰
LENGTH = count(0, 10**3)  # planar layers of a flow
STEPS = count(limit=10**5)


def _points(name):
    """A relation: argument ``name`` holds points (..., batch, dim) of the flow ``self``; they
    are converted to the flow's dtype."""

    def check(values):
        flow, z = values["self"], values[name]
        wanted = (*flow.batch, flow.dim)
        if z.ndim < len(wanted) + (not flow.batch) or tuple(z.shape[-len(wanted) :]) != wanted:
            rows = "(n, " if not flow.batch else "(..., "
            raise ValueError(f"{name} must have shape {rows}{', '.join(map(str, wanted))})")
        values[name] = z.to(flow.u.dtype)

    return check


class PlanarFlow(nn.Module):
    r"""``length`` = L planar layers
    :math:`T_\ell(z) = z + \hat u_\ell\, h(w_\ell^\top z + b_\ell)`, :math:`h = \tanh`, on points
    of dimension ``dim`` (Rezende & Mohamed 2015). By the matrix
    determinant lemma, :math:`\det(I + a b^\top) = 1 + b^\top a`,

    .. math:: \log\Big|\det \frac{\partial T_\ell}{\partial z}\Big|
              = \log\big|1 + h'(w_\ell^\top z + b_\ell)\, w_\ell^\top \hat u_\ell\big|.

    A layer is invertible when :math:`w^\top \hat u \ge -1`, since :math:`0 < h' \le 1`; as in the
    paper's appendix, :math:`\hat u = u + \big(m(w^\top u) - w^\top u\big)\, w / \|w\|^2` with
    :math:`m(a) = -1 + \log(1 + e^a)`, so that :math:`w^\top \hat u = m(w^\top u) > -1` for every
    parameter u, w, b. ``length = 0`` is the identity.

    ``batch = m`` holds m independent flows (one per image): each parameter has an axis of m
    after the layer axis, and a point of shape (..., m, dim) goes through the flow of its row.
    Parameters start at :math:`u, w \sim \mathcal N(0, 0.1^2)`, b = 0 (torch's random state).
    """

    @validate(dim=count(limit=SIZE_LIMIT), length=LENGTH, batch=optional(count(limit=SAMPLES)))
    def __init__(self, dim, length, batch=None):
        super().__init__()
        self.dim, self.length = dim, length
        self.batch = () if batch is None else (batch,)
        shape = (self.length, *self.batch)
        self.u = nn.Parameter(INIT_SCALE * torch.randn(*shape, self.dim))
        self.w = nn.Parameter(INIT_SCALE * torch.randn(*shape, self.dim))
        self.b = nn.Parameter(torch.zeros(shape))

    @validate(_points("z"), z=tensor)
    def forward(self, z):
        r"""``(T(z), log_det)``: the flow's output, of the shape of z, and
        :math:`\sum_\ell \log|\det \partial T_\ell / \partial z_{\ell-1}|` of shape ``z.shape[:-1]``
        ((n,) for z of shape (n, dim))."""
        if self.length == 0:
            return z, torch.zeros(z.shape[:-1], dtype=z.dtype)
        u_hat = self.u_hat()
        c = torch.linalg.vecdot(self.w, u_hat)  # wᵀû of every layer
        slopes = []  # h'(wᵀz + b) = 1 − h² of every layer
        for u_k, w_k, b_k in zip(u_hat.unbind(0), self.w.unbind(0), self.b.unbind(0), strict=True):
            h = torch.tanh(torch.linalg.vecdot(z, w_k) + b_k)
            z = torch.addcmul(z, u_k, h[..., None])
            slopes.append(1 - h * h)
        leading = [1] * (z.ndim - 1 - len(self.batch))  # the sample axes of z
        c = c.reshape(self.length, *leading, *self.batch)
        return z, torch.log1p(torch.stack(slopes) * c).sum(0)

    @validate()
    def u_hat(self):
        r""":math:`\hat u = u + (m(w^\top u) - w^\top u)\, w / \|w\|^2`, of the shape of u."""
        wu = (self.w * self.u).sum(-1, keepdim=True)
        m = functional.softplus(wu) - 1
        squared = (self.w**2).sum(-1, keepdim=True)
        # w = 0: a shift by u tanh(b), û = u (the correction 0 · w / ‖w‖² is 0, not NaN)
        return self.u + (m - wu) * self.w / squared.clamp_min(torch.finfo(squared.dtype).tiny)

    @torch.no_grad()
    @validate(_points("y"), y=tensor)
    def inverse(self, y):
        r"""The z with T(z) = y. Layer by layer from the last, with :math:`c = w^\top \hat u`:
        :math:`\alpha = w^\top z` solves :math:`\alpha + c\, h(\alpha + b) = w^\top y`, which is
        increasing in α, by bisection on :math:`[w^\top y - |c|,\, w^\top y + |c|]`; then
        :math:`z = y - \hat u\, h(\alpha + b)`."""
        u_hat, w, b = self.u_hat(), self.w, self.b
        for k in reversed(range(self.length)):
            c = (w[k] * u_hat[k]).sum(-1)
            target = (y * w[k]).sum(-1)
            low, high = target - c.abs(), target + c.abs()
            for _ in range(_BISECTIONS):
                alpha = (low + high) / 2
                above = alpha + c * torch.tanh(alpha + b[k]) > target
                low, high = torch.where(above, low, alpha), torch.where(above, alpha, high)
            y = y - u_hat[k] * torch.tanh((low + high) / 2 + b[k])[..., None]
        return y


def _base_shapes(values):
    mu, logvar = values["mu"], values["logvar"]
    if mu.ndim != 2 or len(mu) == 0 or logvar.shape != mu.shape:
        raise ValueError(
            f"mu and logvar must have the same shape (n, d) with n ≥ 1, got {tuple(mu.shape)} "
            f"and {tuple(logvar.shape)}"
        )


def _draws(values):
    q, eps = values["self"], values["eps"]
    if eps.ndim != 3 or eps.shape[1:] != q.mu.shape:
        n, d = q.mu.shape
        raise ValueError(f"eps must be a torch tensor of shape (S, {n}, {d})")
    values["eps"] = eps.to(q.mu.dtype)


class FlowPosterior(nn.Module):
    r"""One q(z | x) per image: :math:`z = T(z_0)`, :math:`z_0 \sim
    \mathcal N(\mu, \mathrm{diag}\, s^2)`, with ``mu`` and ``logvar`` of shape
    (n, d) and T a :class:`PlanarFlow` of ``length`` layers for each of the n images. Its
    density is :math:`\log q(z) = \log \mathcal N(z_0;\, \mu, s^2) - \log|\det \partial T
    / \partial z_0|` at :math:`z_0 = T^{-1}(z)`."""

    @validate(_base_shapes, mu=tensor, logvar=tensor, length=LENGTH)
    def __init__(self, mu, logvar, length):
        super().__init__()
        self.mu = nn.Parameter(mu.detach().clone())
        self.logvar = nn.Parameter(logvar.detach().clone())
        self.flow = PlanarFlow(mu.shape[1], length, batch=len(mu))

    @validate(_draws, eps=tensor)
    def sample(self, eps):
        r"""``(z, log_q)`` for standard-normal ``eps`` of shape (S, n, d): the draws
        :math:`z = T(\mu + s \odot \varepsilon)` (S, n, d), differentiable in every
        parameter, and their log-density :math:`\log q(z) = -\tfrac12 \sum_j (\varepsilon_j^2
        + \log 2\pi + \log s_j^2) - \log|\det|` (S, n)."""
        with skip_validation():  # checked above
            z, log_det = self.flow(self.mu + torch.exp(0.5 * self.logvar) * eps)
        log_q0 = -0.5 * (eps**2 + LOG_2PI + self.logvar).sum(-1)
        return z, log_q0 - log_det

    @torch.no_grad()
    @validate(z=tensor)
    def log_density(self, z):
        r""":math:`\log q(z)` of points z of shape (..., n, d), row i under image i's q."""
        z0 = self.flow.inverse(z)
        with skip_validation():  # z0 comes from the checked z
            _, log_det = self.flow(z0)
        eps2 = (z0 - self.mu) ** 2 * torch.exp(-self.logvar)
        return -0.5 * (eps2 + LOG_2PI + self.logvar).sum(-1) - log_det


def _model_and_q(values):
    model, q = values["model"], values["q"]
    if q.mu.shape[1] != model.z_dim:
        raise ValueError(f"q must have the model's latent dimension {model.z_dim}")


def _images_of_q(values):
    grid, q = values["grid"], values["q"]
    if len(grid["log_posterior"]) != len(q.mu):
        raise ValueError(f"grid must hold the posteriors of q's {len(q.mu)} images")
    if q.mu.shape[1] != 2:
        raise ValueError("q must be a posterior of a 2-D latent")


@validate(DATA, _model_and_q, model=MODEL, q=instance(FlowPosterior), eps=tensor)
def log_weights(model, x, q, eps):
    r"""The log importance weights :math:`\log p(x \mid z) + \log p(z) - \log q(z)` of the
    draws :math:`z = T(\mu + s\varepsilon)` of a :class:`FlowPosterior` ``q`` for the images
    ``x`` (n, 64), of shape (S, n): their mean over the S draws estimates the flow's ELBO, their
    log-mean-exp the IWAE bound. ``eps`` has shape (S, n, d)."""
    if len(x) != len(q.mu):
        raise ValueError(f"x must hold one image per row of q.mu ({len(q.mu)}), got {len(x)}")
    z, log_q = q.sample(eps)
    return _log_joint(model, x, z) - log_q


def _log_joint(model, x, z):
    """log p(x | z) + log p(z) under the prior N(0, I), of checked x and z."""
    with skip_validation():
        return model.log_likelihood(x, z) - 0.5 * (z**2 + LOG_2PI).sum(-1)


@validate(
    DATA,
    model=MODEL,
    length=LENGTH,
    steps=STEPS,
    anneal=STEPS,
    lr=real(0.0, LR_LIMIT),
    n_samples=count(limit=SAMPLES),
    seed=seed_kind,
)
def fit_flow(model, x, length, *, steps=400, anneal=250, lr=0.02, n_samples=32, seed=0):
    r"""Fit a :class:`FlowPosterior` with ``length`` planar layers to each image of ``x``, the
    decoder fixed. Adam with step size ``lr`` ascends, over every image's
    :math:`(\mu, \log s^2)` and flow, the sum over images of the annealed ELBO of
    Rezende & Mohamed (2015),

    .. math:: \mathbb E_{q_0}\big[\beta_t \log p(x, z_L) - \log q_0(z_0)
              + \textstyle\sum_\ell \log|\det \partial T_\ell / \partial z_{\ell-1}|\big], \qquad
              \beta_t = \min\big(1, (t + 1)/\text{anneal}\big),

    with ``n_samples`` fresh draws a step; from step ``anneal`` on it is the ELBO. The images are
    independent, so the sum's gradient for one image's parameters is that image's own. Every q
    starts as the prior N(0, I), which covers each mode of the posterior, and the small β of the
    first steps keeps it wide while it finds them. The flow's initial parameters and the draws
    come from ``seed``; the global random state is left untouched. ``length = 0`` fits the
    diagonal Gaussian."""
    with seeded(seed), torch_threads(), skip_validation():  # the fit is checked at the end
        start = torch.zeros(len(x), model.z_dim, dtype=x.dtype)
        q = FlowPosterior(start, start, length)
        parameters = [p for p in q.parameters() if p.numel()]  # length 0: no flow
        optimizer = Adam(parameters, lr=lr)
        for t in range(steps):
            beta = min(1.0, (t + 1) / anneal)
            eps = torch.randn((n_samples, *q.mu.shape), dtype=q.mu.dtype)
            z, log_q = q.sample(eps)
            loss = -(beta * _log_joint(model, x, z) - log_q).mean(0).sum()
            grads = torch.autograd.grad(loss, parameters)  # the decoder gets none
            for p, g in zip(parameters, grads, strict=True):
                p.grad = g
            optimizer.step()
    if not all(bool(torch.isfinite(p).all()) for p in parameters):
        raise ValueError("the fit diverged: lower lr")
    return q


@validate(grid=GRID, q=instance(FlowPosterior))
def grid_kl(grid, q):
    r""":math:`\mathrm{KL}(q\,\|\,p(z \mid x))` by quadrature on the grid of
    :func:`elbo_lib.diagnostics.posterior_on_grid`, for a :class:`FlowPosterior` ``q`` of the
    same images (:func:`elbo_lib.diagnostics.grid_kl_to_posterior` with the flow's density,
    normalised on the grid). Returns a tensor (n_images,)."""
    with skip_validation():  # a flow's own density on a checked grid
        return grid_kl_of_density(grid, grid_log_density(grid, q))


@validate(_images_of_q, grid=GRID, q=instance(FlowPosterior))
def grid_log_density(grid, q):
    r""":math:`\log q(z)` of a :class:`FlowPosterior` at the points of the grid of
    :func:`elbo_lib.diagnostics.posterior_on_grid`, of shape (n_images, len(z2), len(z1)), the
    layout of ``grid["log_posterior"]``."""
    z2, z1 = torch.meshgrid(grid["z2"], grid["z1"], indexing="ij")
    points = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=-1).to(q.mu.dtype)
    with torch_threads():
        log_q = q.log_density(points[:, None, :].expand(-1, len(q.mu), -1))  # (n², n_images)
    return log_q.T.reshape(len(q.mu), len(grid["z2"]), len(grid["z1"]))
