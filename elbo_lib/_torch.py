"""Torch plumbing shared by the models and measurements: a seeded random state and a fixed
number of threads, each restored when its block ends."""

import contextlib

import torch

from elbo_lib.validation import integer

THREADS = 1  # Binder gives one CPU; benchmarks/RESULTS.md times one and two threads


@contextlib.contextmanager
def seeded(seed):
    """Run the block with torch's random state seeded by ``seed``; the global state is restored
    afterwards."""
    seed = integer(seed, "seed")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_threads(n=None):
    """Run the block with ``torch.set_num_threads(n)`` (default :data:`THREADS`), then restore
    the previous number."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS if n is None else n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
