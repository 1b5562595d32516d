r"""Learned priors for the VAE: a Gaussian mixture and the VampPrior (Tomczak & Welling 2018).

For a fixed encoder the average KL term splits as

.. math:: \frac1N\sum_n \mathrm{KL}(q(z \mid x_n)\,\|\,p(z))
          = I_q(X; Z) + \mathrm{KL}(\bar q(z)\,\|\,p(z))

(Hoffman & Johnson 2016), and only the second term depends on the prior: the best prior is the
aggregate posterior :math:`\bar q(z) = \frac1N\sum_n q(z \mid x_n)`. Both priors here are
cheaper stand-ins for :math:`\bar q` that are learned with the rest of the model.

With a learned prior the KL to it has no closed form: training uses the one-sample estimate
:math:`\log q(z \mid x) - \log p(z)` at the same reparameterised z as the reconstruction term,
so the loss is still an unbiased estimate of the negative ELBO.
"""

import torch
from torch import nn

from elbo_lib.densities import log_normal
from elbo_lib.diagnostics import log_aggregate_posterior
from elbo_lib.vae import COUNT_LIMIT, SIZE_LIMIT, VAE, elbo_terms_declaration
from elbo_lib.validation import count, tensor, validate

COMPONENTS = count(limit=SIZE_LIMIT)  # mixture components, pseudo-inputs


class LearnedPriorVAE(VAE):
    r"""A :class:`~elbo_lib.vae.VAE` whose prior is learned: subclasses define
    :meth:`log_prior` and :meth:`sample_prior`. The KL term is estimated from the draws,
    :math:`\mathrm{KL} \approx \frac1S\sum_s \log q(z_s \mid x) - \log p(z_s)`, so
    :func:`~elbo_lib.vae.train_vae` and every measurement of :mod:`elbo_lib.diagnostics` work
    unchanged. (Free bits, if asked for, apply to the whole KL: it has no per-unit split.)"""

    @validate(components=COMPONENTS)
    def __init__(self, components, **vae):
        super().__init__(**vae)
        self.components = components

    @validate(mu=tensor, logvar=tensor, z=tensor)
    def prior_kl(self, mu, logvar, z):
        r""":math:`\frac1S\sum_s \log q(z_s \mid x) - \log p(z_s)` for draws z (S, n, z_dim)
        from q(z | x) with parameters (mu, logvar) (n, z_dim): shape (n,)."""
        return (log_normal(z, mu, logvar=logvar).sum(-1) - self.log_prior(z)).mean(0)

    @elbo_terms_declaration
    def elbo_terms(self, x, per_dimension=False):
        r"""One-sample estimates of :math:`\mathbb E_q[\log p(x \mid z)]` and of
        :math:`\mathrm{KL}(q(z \mid x)\,\|\,p(z))` from the same draw, each of shape (n,). The
        KL has no split into units: ``per_dimension=True`` gives it as one column, (n, 1)."""
        mu, logvar = self.encode(x)
        z = self.sample_posterior(mu, logvar)
        kl = self.prior_kl(mu, logvar, z[None])
        return self.log_likelihood(x, z), kl[:, None] if per_dimension else kl


class MixturePriorVAE(LearnedPriorVAE):
    r"""A VAE with a learned mixture prior of C = ``components`` diagonal Gaussians:

    .. math:: p(z) = \sum_{c=1}^{C} \pi_c\, \mathcal N(z;\, m_c,\, \mathrm{diag}\, v_c),
              \qquad \pi = \mathrm{softmax}(a),

    with the logits a, means :math:`m_c` and log-variances :math:`\log v_c` trained with the
    encoder and decoder. The means start at draws from N(0, I), the variances at 1.
    Keyword arguments as :class:`~elbo_lib.vae.VAE`."""

    @validate(components=COMPONENTS)
    def __init__(self, components=10, **vae):
        super().__init__(components, **vae)
        self.logits = nn.Parameter(torch.zeros(self.components))
        self.means = nn.Parameter(torch.randn(self.components, self.z_dim))
        self.logvars = nn.Parameter(torch.zeros(self.components, self.z_dim))

    @validate(z=tensor)
    def log_prior(self, z):
        r""":math:`\log \sum_c \pi_c\, \mathcal N(z; m_c, \mathrm{diag}\, v_c)`, computed as a
        log-sum-exp over the components: shape ``z.shape[:-1]``."""
        return _log_mixture(z, self.means, self.logvars, self.logits.log_softmax(0))

    @validate(n=count(limit=COUNT_LIMIT))
    def sample_prior(self, n):
        """n draws from the mixture: a component c ~ π, then z ~ N(m_c, diag v_c)."""
        c = torch.multinomial(self.logits.softmax(0), n, replacement=True)
        return self.sample_posterior(self.means[c], self.logvars[c])


class VampPriorVAE(LearnedPriorVAE):
    r"""A VAE with the VampPrior (Tomczak & Welling 2018): the prior is the encoder's posterior
    averaged over C = ``components`` learned pseudo-inputs :math:`u_c`,

    .. math:: p(z) = \frac1C \sum_{c=1}^{C} q_\phi(z \mid u_c),

    the aggregate posterior of a small learned data set. Pseudo-inputs are pixels in (0, 1),
    :math:`u_c = \operatorname{sigmoid}(a_c)`, with :math:`a_c` starting at draws from N(0, 1).
    Keyword arguments as :class:`~elbo_lib.vae.VAE`."""

    @validate(components=COMPONENTS)
    def __init__(self, components=50, **vae):
        super().__init__(components, **vae)
        self.pseudo_logits = nn.Parameter(torch.randn(self.components, self.x_dim))

    @property
    def pseudo_inputs(self):
        """The pseudo-inputs :math:`u_c`, shape (C, x_dim)."""
        return self.pseudo_logits.sigmoid()

    @validate(z=tensor)
    def log_prior(self, z):
        r""":math:`\log \frac1C \sum_c q_\phi(z \mid u_c)`, a log-sum-exp over the pseudo-inputs:
        shape ``z.shape[:-1]``."""
        return _log_mixture(z, *self.encode(self.pseudo_inputs))

    @validate(n=count(limit=COUNT_LIMIT))
    def sample_prior(self, n):
        """n draws: a pseudo-input c uniformly, then z ~ q(z | u_c)."""
        c = torch.randint(self.components, (n,))
        return self.sample_posterior(*self.encode(self.pseudo_inputs[c]))


def _log_mixture(z, mu, logvar, log_weights=None):
    """The mixture's log-density at z of any leading shape, by
    :func:`~elbo_lib.diagnostics.log_aggregate_posterior` (matrix products: memory of one number
    per draw and component)."""
    mu, logvar = mu.to(z.dtype), logvar.to(z.dtype)  # float64 draws score in float64
    log_weights = None if log_weights is None else log_weights.to(z.dtype)
    flat = log_aggregate_posterior(z.reshape(-1, z.shape[-1]), mu, logvar, log_weights)
    return flat.reshape(z.shape[:-1])
