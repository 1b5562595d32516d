r"""A VAE with an autoregressive decoder: a MADE (Germain et al. 2015) over the binary pixels,

.. math:: p_\theta(x \mid z) = \prod_{i=1}^{P} \mathrm{Bernoulli}\big(x_i \mid
          \mathrm{sigmoid}(\ell_i(x_{<i}, z))\big),

pixels in raster order. Masks on the weights make logit :math:`\ell_i` depend on the pixels
before i only, so one pass computes every factor. z enters the first hidden layer alone. Such a
decoder models the pixels well without z, which invites posterior collapse (notebook 12).
"""

import itertools

import torch
from torch import nn

from elbo_lib._torch import seeded
from elbo_lib.vae import VAE, bernoulli_log_likelihood, log_likelihood_declaration
from elbo_lib.validation import (
    anything,
    count,
    layers,
    seed,
    skip_validation,
    tensor,
    validate,
)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` of shape (out, in)."""

    @validate(mask=anything)
    def __init__(self, mask):
        if not (isinstance(mask, torch.Tensor) and mask.ndim == 2 and mask.numel()):
            raise ValueError(f"mask must be a 2-D tensor (out, in), got {mask!r}")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("mask must hold only 0 and 1")
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    @validate(x=tensor)
    def forward(self, x):
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    r"""Logits :math:`\ell_i(x_{<i}, z)` of P binary pixels given a context z.

    Each hidden unit k has a degree :math:`m_k \in \{0, …, P-1\}` (cycling over the units) and
    sees pixels :math:`j < m_k` only; output i sees hidden units with :math:`m_k \le i`; a unit
    of a later hidden layer sees units of the previous one with no larger degree. Hence
    :math:`\partial \ell_i / \partial x_j = 0` for :math:`j \ge i`. Units of degree 0 see no
    pixel, only z, so even the first pixel depends on z.
    """

    @validate(x_dim=count(limit=2**14), z_dim=count(limit=2**14), hidden=layers)
    def __init__(self, x_dim, z_dim, hidden=(256,)):
        super().__init__()
        pixels = torch.arange(x_dim)
        degrees = [torch.arange(h) % x_dim for h in hidden]
        self.input = MaskedLinear(pixels[None, :] < degrees[0][:, None])
        self.context = nn.Linear(z_dim, hidden[0], bias=False)
        self.hidden = nn.ModuleList(
            MaskedLinear(before[None, :] <= after[:, None])
            for before, after in itertools.pairwise(degrees)
        )
        self.output = MaskedLinear(degrees[-1][None, :] <= pixels[:, None])

    @validate(x=tensor, z=tensor)
    def forward(self, x, z):
        """Logits of shape ``broadcast(x, z).shape[:-1] + (x_dim,)``; x (…, x_dim), z (…, z_dim)."""
        h = torch.relu(self.input(x) + self.context(z))
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.output(h)


class MADEVAE(VAE):
    r"""A VAE (:class:`elbo_lib.vae.VAE`: same encoder, prior and training) whose Bernoulli
    decoder is a :class:`MADE` with ``hidden`` layers, z entering the first.

    :meth:`log_likelihood` is exact in one pass. :meth:`decode` has no single answer for an
    autoregressive decoder; it returns the logits along the *greedy* path (each pixel set to its
    more probable value given the pixels before it), so ``decode(z).sigmoid()`` is an image of
    conditional probabilities. :meth:`sample_pixels` draws binary images ancestrally.
    """

    @validate(x_dim=count(limit=2**14), z_dim=count(limit=2**14), hidden=layers)
    def __init__(self, x_dim=64, z_dim=16, hidden=(256,)):
        super().__init__(x_dim=x_dim, z_dim=z_dim, hidden=hidden, likelihood="bernoulli")

    def _make_decoder(self):
        return MADE(self.x_dim, self.z_dim, self.hidden)

    @log_likelihood_declaration
    def log_likelihood(self, x, z):
        r""":math:`\sum_i x_i \ell_i - \log(1 + e^{\ell_i})` with :math:`\ell = \ell(x_{<i}, z)`;
        z may carry leading sample axes against x of shape (n, x_dim)."""
        with skip_validation():  # the result is checked
            return bernoulli_log_likelihood(x, self.decoder(x, z))

    @torch.no_grad()
    @validate(z=tensor)
    def decode(self, z):
        """Logits of the greedy pass: pixel i is set to ``logit_i > 0`` before pixel i + 1 is
        computed; shape ``z.shape[:-1] + (x_dim,)``. Not differentiable (the choices are not)."""
        return self._autoregress(z, lambda logits: (logits > 0).to(logits.dtype))[0]

    @torch.no_grad()
    @validate(z=tensor, seed=seed)
    def sample_pixels(self, z, seed=0):
        """Binary images drawn pixel by pixel from p(x | z), shape ``z.shape[:-1] + (x_dim,)``;
        the global random state is left untouched."""
        with seeded(seed):
            return self._autoregress(z, lambda logits: torch.bernoulli(logits.sigmoid()))[1]

    def _autoregress(self, z, choose):
        """Fill pixels 0, 1, … in turn with ``choose(logit_i)``; return (logits, pixels)."""
        x = torch.zeros((*z.shape[:-1], self.x_dim), dtype=z.dtype)
        for i in range(self.x_dim):
            logits = self.decoder(x, z)
            x[..., i] = choose(logits[..., i])
        return logits, x
