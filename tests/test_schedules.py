"""β schedules against their closed forms."""

import pytest

from elbo_lib.schedules import constant, cyclical, linear_warmup


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
