r"""The linear-Gaussian model, where every quantity of variational inference has a closed form.

Scalar model: :math:`p(z) = \mathcal N(0, 1)`, :math:`p(x \mid z) = \mathcal N(w z, \sigma^2)`.
Its multivariate form, :math:`x = W z + \mu + \varepsilon`, is probabilistic PCA.
"""

import math
import sys

import numpy as np

from elbo_lib.densities import LOG_2PI, log_normal
from elbo_lib.kl import kl_mvn, kl_normal, kl_to_standard_normal
from elbo_lib.validation import (
    count,
    finite,
    numpy_covariance,
    numpy_finite,
    positive,
    positive_real,
    real_number,
    skip_validation,
    validate,
)
from elbo_lib.validation import seed as seed_kind


class LinearGaussian:
    r""":math:`p(z) = \mathcal N(0, 1)`, :math:`p(x \mid z) = \mathcal N(w z, \sigma^2)`.

    Methods take numpy arrays or torch tensors (so the ELBO can be differentiated) and broadcast.
    """

    @validate(w=real_number, sigma2=positive_real)
    def __init__(self, w, sigma2):
        self.w, self.sigma2 = w, sigma2
        if not abs(self.w) < math.sqrt(sys.float_info.max - self.sigma2):
            raise ValueError(f"w = {self.w!r} is too large: w² + sigma2 overflows")

    def __repr__(self):
        return f"LinearGaussian(w={self.w!r}, sigma2={self.sigma2!r})"

    @validate(x=finite)
    def log_evidence(self, x):
        r""":math:`\log p(x) = \log \mathcal N(x;\, 0,\, w^2 + \sigma^2)`."""
        return log_normal(x, 0.0, self.w**2 + self.sigma2)

    @validate(x=finite)
    def posterior(self, x):
        r""":math:`p(z \mid x) = \mathcal N\big(\frac{w x}{w^2+\sigma^2},
        \frac{\sigma^2}{w^2+\sigma^2}\big)`: returns (mean, var)."""
        evidence_var = self.w**2 + self.sigma2
        # + 0·x: the variance, the same for every x, in the shape and array type of x
        return self.w * x / evidence_var, self.sigma2 / evidence_var + 0.0 * x

    @validate(x=finite, z=finite)
    def log_joint(self, x, z):
        r""":math:`\log p(x, z) = \log \mathcal N(x;\, w z, \sigma^2)
        + \log \mathcal N(z;\, 0, 1)`."""
        return log_normal(x, self.w * z, self.sigma2) + log_normal(z)

    @validate(x=finite, mu=finite, s2=positive)
    def expected_log_likelihood(self, x, mu, s2):
        r""":math:`\mathbb E_{q}[\log p(x \mid z)] = -\tfrac12\log(2\pi\sigma^2)
        - \frac{(x - w\mu)^2 + w^2 s^2}{2\sigma^2}` for :math:`q = \mathcal N(\mu, s^2)`."""
        return -0.5 * (LOG_2PI + math.log(self.sigma2)) - (
            (x - self.w * mu) ** 2 + self.w**2 * s2
        ) / (2 * self.sigma2)

    @validate(x=finite, mu=finite, s2=positive)
    def elbo(self, x, mu, s2):
        r"""Closed-form ELBO for :math:`q(z) = \mathcal N(\mu, s^2)`:
        :math:`\mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q \,\|\, \mathcal N(0, 1))`."""
        with skip_validation():
            fit = self.expected_log_likelihood(x, mu, s2)
            return fit - kl_to_standard_normal(mu, s2, per_dimension=True)

    @validate(x=finite, mu=finite, s2=positive)
    def kl_to_posterior(self, x, mu, s2):
        r""":math:`\mathrm{KL}(q \,\|\, p(z \mid x)) = \log p(x) - \mathrm{ELBO}`, computed directly
        as a KL between two Gaussians."""
        mean, _ = self.posterior(x)
        logvar = math.log(self.sigma2) - math.log(self.w**2 + self.sigma2)  # never underflows
        return kl_normal(mu, s2, mean, logvar_p=logvar)

    @validate(n=count(limit=10**8), seed=seed_kind)
    def sample(self, n, seed=0):
        r"""Draw n pairs :math:`z \sim \mathcal N(0,1)`, :math:`x \sim \mathcal N(wz, \sigma^2)`
        with numpy's generator seeded by ``seed``; returns (x, z) as numpy arrays."""
        rng = np.random.default_rng(seed)
        z = rng.standard_normal(n)
        x = self.w * z + np.sqrt(self.sigma2) * rng.standard_normal(n)
        return x, z


@validate(X=numpy_finite, z_dim=count(limit=2**14))
def fit_ppca(X, z_dim):
    r"""Maximum-likelihood probabilistic PCA (Tipping & Bishop 1999) in closed form.

    With the sample covariance :math:`U \Lambda U^\top` of P-dimensional data (eigenvalues
    descending) and d = ``z_dim``: :math:`\sigma^2 = \frac{1}{P-d}\sum_{j>d}\lambda_j` and
    :math:`W = U_d (\Lambda_d - \sigma^2 I)^{1/2}`. Returns (W, mean, sigma2), W of shape (P, d).
    """
    X = _data_matrix(X)
    n, d = X.shape
    if z_dim >= d:
        raise ValueError(f"z_dim must be an integer in [1, {d - 1}], got {z_dim!r}")
    if n < 2:
        raise ValueError("X needs at least two rows")
    mean = X.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(np.cov(X, rowvar=False, bias=True))
    eigvals, eigvecs = eigvals[::-1], eigvecs[:, ::-1]
    sigma2 = float(eigvals[z_dim:].mean())
    if sigma2 <= 0:
        raise ValueError("X has no variance outside the leading z_dim directions")
    W = eigvecs[:, :z_dim] * np.sqrt(np.maximum(eigvals[:z_dim] - sigma2, 0.0))
    return W, mean, sigma2


@validate(X=numpy_finite, W=numpy_finite, mean=numpy_finite, sigma2=positive_real)
def ppca_log_likelihood(X, W, mean, sigma2):
    r""":math:`\log p(x) = \log \mathcal N(x;\, m,\, W W^\top + \sigma^2 I)` for each row of X,
    m = ``mean``."""
    X, W, mean = _ppca_arguments(X, W, mean, sigma2)
    d = X.shape[1]
    chol = np.linalg.cholesky(W @ W.T + sigma2 * np.eye(d))
    white = np.linalg.solve(chol, (X - mean).T)
    logdet = 2 * np.log(np.diag(chol)).sum()
    return -0.5 * (d * LOG_2PI + logdet + (white**2).sum(axis=0))


def _data_matrix(X):
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n, D), got shape {X.shape}")
    return X


@validate(X=numpy_finite, W=numpy_finite, mean=numpy_finite, sigma2=positive_real)
def ppca_posterior(X, W, mean, sigma2):
    r"""The exact posterior of probabilistic PCA for each row x of X:
    :math:`p(z \mid x) = \mathcal N\big(M^{-1} W^\top (x - m),\ \sigma^2 M^{-1}\big)`,
    :math:`M = W^\top W + \sigma^2 I`. Returns (means (n, d), cov (d, d)); the covariance is
    the same for every x."""
    X, W, mean = _ppca_arguments(X, W, mean, sigma2)
    M = W.T @ W + sigma2 * np.eye(W.shape[1])
    return np.linalg.solve(M, W.T @ (X - mean).T).T, sigma2 * np.linalg.inv(M)


@validate(
    X=numpy_finite,
    W=numpy_finite,
    mean=numpy_finite,
    sigma2=positive_real,
    q_means=numpy_finite,
    q_cov=numpy_covariance,
)
def ppca_elbo(X, W, mean, sigma2, q_means, q_cov):
    r"""The ELBO of probabilistic PCA for :math:`q(z \mid x) = \mathcal N(\mu_x, V)`, per row:

    .. math:: -\tfrac P2\log(2\pi\sigma^2) - \frac{\lVert x - m - W \mu_x\rVert^2
              + \mathrm{tr}(W^\top W V)}{2\sigma^2} - \mathrm{KL}(\mathcal N(\mu_x, V)\,\|\,
              \mathcal N(0, I))

    ``q_means`` (the :math:`\mu_x`) has shape (n, d), ``q_cov`` (V) (d, d). It equals
    ``ppca_log_likelihood`` when q is the exact posterior (:func:`ppca_posterior`) and is smaller
    for any other q.
    """
    X, W, mean = _ppca_arguments(X, W, mean, sigma2)
    n, (d, q) = X.shape[0], W.shape
    if q_means.shape != (n, q) or q_cov.shape != (q, q):
        raise ValueError(
            f"q_means must be ({n}, {q}) and q_cov ({q}, {q}); "
            f"got {q_means.shape} and {q_cov.shape}"
        )
    residual = X - mean - q_means @ W.T
    expected_log_lik = -0.5 * (d * (LOG_2PI + math.log(sigma2))) - (
        (residual**2).sum(axis=1) + np.trace(W.T @ W @ q_cov)
    ) / (2 * sigma2)
    return expected_log_lik - kl_mvn(q_means, q_cov, np.zeros(q), np.eye(q))


def _ppca_arguments(X, W, mean, sigma2):
    X = _data_matrix(X)
    d = X.shape[1]
    if W.ndim != 2 or W.shape[0] != d or mean.shape != (d,):
        raise ValueError(
            f"X has {d} columns, so W must be ({d}, q) and mean ({d},); "
            f"got W {W.shape} and mean {mean.shape}"
        )
    return X, W, mean
