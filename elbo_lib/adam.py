r"""Adam (Kingma & Ba 2015), the optimiser that trains and refines every model here. For each
parameter θ with gradient :math:`g_t` at step t = 1, 2, …

.. math:: m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
          v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2,

.. math:: \theta_t = \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
          \frac{m_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon},

with :math:`m_0 = v_0 = 0`, β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸. The operations are those of
``torch.optim.Adam`` with its defaults, so both give the same parameters to the last bit
(``tests/test_adam.py``). ``torch.optim`` loads torch's compiler on its first use, about 2 s on
one CPU in every notebook that trains; this loop does not.
"""

import torch

from elbo_lib.validation import Kind, anything, choice, flag, real, validate

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
LR_LIMIT = 10.0  # a step beyond any that trains the models here; larger ones overflow


def _betas(value, name, xp):
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise ValueError(f"{name} must be a pair (beta1, beta2), got {value!r}")
    return tuple(real(0.0, 1.0, strict=False)(b, f"{name}[{i}]") for i, b in enumerate(value))


class Adam:
    """Adam with step size ``lr`` on ``params``, leaf tensors that require gradients; ``betas``,
    ``eps``, ``weight_decay`` (an L2 term :math:`\\lambda\theta` added to the gradient) and
    ``maximize`` as in ``torch.optim.Adam``. A parameter whose ``.grad`` is None is skipped."""

    @validate(
        params=anything,
        lr=real(0.0, LR_LIMIT),
        betas=Kind("betas", _betas),
        eps=real(0.0, 1.0),
        weight_decay=real(0.0, 1e6, strict=False),
        amsgrad=choice(False),
        maximize=flag,
    )
    def __init__(
        self,
        params,
        lr,
        betas=(BETA1, BETA2),
        eps=EPS,
        weight_decay=0.0,
        amsgrad=False,
        maximize=False,
    ):
        if isinstance(params, torch.Tensor):
            raise ValueError("params must be an iterable of tensors, got a tensor")
        try:
            self.params = list(params)
        except TypeError:
            raise ValueError(f"params must be an iterable of tensors, got {params!r}") from None
        if not self.params:
            raise ValueError("params is empty: Adam needs at least one tensor to optimise")
        for i, p in enumerate(self.params):
            if not (isinstance(p, torch.Tensor) and p.is_leaf and p.requires_grad):
                raise ValueError(f"params[{i}] must be a leaf tensor that requires grad")
            first = next(j for j, q in enumerate(self.params) if q is p)
            if first != i:
                raise ValueError(f"params[{i}] is params[{first}]: list each tensor once")
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay, self.maximize = weight_decay, maximize
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @validate()
    def zero_grad(self):
        """Forget the gradients (set each ``.grad`` to None)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    @validate()
    def step(self):
        """One update of every parameter from its ``.grad`` (those without one are left as they
        are, as torch.optim.Adam leaves them)."""
        (beta1, beta2), eps = self.betas, self.eps
        self.t += 1
        step_size = -self.lr / (1 - beta1**self.t)
        bias_correction2_sqrt = (1 - beta2**self.t) ** 0.5
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            grad = -p.grad if self.maximize else p.grad
            if self.weight_decay != 0:
                grad = grad.add(p, alpha=self.weight_decay)
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            p.addcdiv_(m, v.sqrt().div_(bias_correction2_sqrt).add_(eps), value=step_size)
