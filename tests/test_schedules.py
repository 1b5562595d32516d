"""β schedules against their closed forms."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elbo_lib.schedules import constant, cyclical, linear_warmup

steps = st.integers(0, 10**6)
targets = st.floats(0, 100)


def test_constant():
    beta = constant(0.3)
    assert [beta(t) for t in (0, 1, 10_000)] == [0.3, 0.3, 0.3]


def test_linear_warmup_rises_to_the_target_and_stays():
    beta = linear_warmup(100, target=2.0)
    assert [beta(t) for t in (0, 25, 50, 100, 101, 10_000)] == pytest.approx(
        [0.0, 0.5, 1.0, 2.0, 2.0, 2.0]
    )


def test_cyclical_repeats_a_warm_up_every_period():
    beta = cyclical(period=100, ratio=0.5, target=1.0)
    steps = (0, 25, 50, 99, 100, 125, 150, 275)
    assert [beta(t) for t in steps] == pytest.approx([0, 0.5, 1, 1, 0, 0.5, 1, 1])


@given(st.integers(1, 10**4), targets, steps, steps)
def test_linear_warmup_stays_between_zero_and_the_target_and_never_falls(warmup, target, s, t):
    beta = linear_warmup(warmup, target)
    assert 0 <= beta(s) <= target
    assert beta(min(s, t)) <= beta(max(s, t))


@given(st.integers(1, 10**4), st.floats(0.01, 1), targets, steps)
def test_cyclical_repeats_with_its_period(period, ratio, target, t):
    beta = cyclical(period, ratio, target)
    assert beta(t + period) == beta(t)
    assert 0 <= beta(t) <= target
    assert beta(t - t % period) == 0  # every period starts from β = 0


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: constant(-0.1), "beta"),
        (lambda: constant(float("nan")), "beta"),
        (lambda: linear_warmup(0), "warmup_steps"),
        (lambda: linear_warmup(10.5), "warmup_steps"),
        (lambda: linear_warmup(10, target=-1), "target"),
        (lambda: cyclical(0), "period"),
        (lambda: cyclical(10, ratio=0), "ratio"),
        (lambda: cyclical(10, ratio=1.5), "ratio"),
        (lambda: cyclical(10, target=float("inf")), "target"),
    ],
)
def test_bad_arguments_are_refused(make, name):
    with pytest.raises(ValueError, match=name):
        make()
