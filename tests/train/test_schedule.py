"""The learning-rate schedule shared by the VQ-VAE, prior and context-model loops
(``vqvae.train.schedule``), against values computed by hand."""

import math

import pytest

from vqvae.config import ScheduleConfig
from vqvae.train.schedule import (
    MIN_EVAL_IMAGES,
    MIN_EVAL_INTERVAL,
    PRIOR_FLOOR,
    cosine,
    evaluation_interval,
    evaluation_size,
    learning_rate,
    run_progress,
    scheduled_lr,
    warmup,
)


def test_warmup_ramps_linearly_then_holds():
    assert [warmup(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup(0, 0) == 1.0  # no warm-up
    ramp = [learning_rate(0.01, s, 0.0, warmup_steps=4, schedule="constant") for s in range(6)]
    assert ramp == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01], abs=1e-15)


def test_constant_ignores_progress():
    for progress in (0.0, 0.3, 1.0, 7.0):
        assert learning_rate(0.003, 10, progress, schedule="constant") == 0.003


def test_cosine_runs_from_the_peak_to_its_floor():
    assert learning_rate(0.01, 0, 0.0) == 0.01
    assert learning_rate(0.01, 50, 0.5) == pytest.approx(0.005, abs=1e-15)
    assert learning_rate(0.01, 100, 1.0) == pytest.approx(0.0, abs=1e-18)
    # the prior loops end at 5% of the peak: 0.05 + 0.95 * (1 + cos(pi p)) / 2
    assert learning_rate(2e-3, 99, 1.0, floor=PRIOR_FLOOR) == pytest.approx(1e-4, abs=1e-18)
    assert learning_rate(2e-3, 99, 0.5, floor=PRIOR_FLOOR) == pytest.approx(1.05e-3, abs=1e-15)
    assert cosine(0.25, 0.05) == pytest.approx(0.05 + 0.95 * (1 + math.sqrt(0.5)) / 2)
    assert cosine(3.0, 0.05) == pytest.approx(0.05)  # past the end: the floor, not back up


def test_progress_is_the_further_of_steps_and_time():
    assert run_progress(10, 100, 30.0, 60.0) == 0.5  # time is further
    assert run_progress(80, 100, 30.0, 60.0) == 0.8  # steps are further
    assert run_progress(10**6, math.inf, 0.0, math.inf) == 0.0  # no bound: never moves
    assert run_progress(5, 10) == 0.5  # no time budget


def test_the_prior_loops_learning_rate_is_unchanged():
    """The formula the prior and context loops had before the shared module, bit for bit."""
    for step in range(0, 300, 7):
        for progress in (0.0, 0.1, 0.37, 0.5, 0.99):
            warm = min(1.0, (step + 1) / 100)
            before = 2e-3 * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
            assert learning_rate(2e-3, step, progress, 100, PRIOR_FLOOR) == before


def test_the_vqvae_loops_learning_rate_is_unchanged():
    """The formula the VQ-VAE loop had before the shared module, bit for bit."""
    schedule = ScheduleConfig(lr=1e-3, warmup_steps=10)
    for step in range(0, 1200, 13):
        for elapsed, deadline in ((0.0, math.inf), (40.0, 90.0), (100.0, 90.0)):
            progress = step / 1000
            if deadline < math.inf:
                progress = max(progress, elapsed / deadline)
            warm = min(1.0, (step + 1) / 10)
            before = warm * 1e-3 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
            assert scheduled_lr(schedule, step, 1000, elapsed, deadline) == before


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="constant or cosine"):
        learning_rate(0.01, 0, 0.0, schedule="linear")


def test_a_run_evaluates_about_ten_times_at_least_a_hundred_steps_apart():
    assert evaluation_interval(4000) == 400  # steps 400, 800, ..., 3600, and the last
    assert evaluation_interval(3001) == 301
    assert evaluation_interval(500) == MIN_EVAL_INTERVAL == 100
    assert evaluation_interval(16) == 100  # a tiny run: only its last step
    assert evaluation_interval(4000, eval_every=7) == 7  # --eval-every
    assert evaluation_interval(math.inf) == math.inf  # a time budget: by the clock
    assert evaluation_interval(math.inf, eval_every=50) == 50


def test_evaluations_along_the_way_see_a_part_of_the_test_set_that_fits_the_budget():
    # 4000 steps of 64 images: 3 x 5% x 256 000 / 10 evaluations = 3840 test images each
    assert evaluation_size(10_000, 4000, 64) == 3840
    assert evaluation_size(200, 3000, 16) == 200  # never more than there are
    assert evaluation_size(10_000, 16, 32) == MIN_EVAL_IMAGES  # a figure worth reading
    assert evaluation_size(10_000, math.inf, 64) == 10_000  # a time budget: all of them
