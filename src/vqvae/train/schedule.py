"""Learning-rate schedules of the training loops (VQ-VAE, prior, context model), in one place.

A run's learning rate at optimizer step ``step`` (0-based) is

    lr(step) = base x warm-up(step) x shape(progress)

- warm-up: linear, ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then 1
  (it steadies a fresh Adam state, e.g. after a warm start);
- shape: "constant" (1) or "cosine", from 1 down to ``floor`` (a fraction of the peak) as the
  run's progress goes from 0 to 1;
- progress: the larger of steps done / steps planned and seconds spent / the time budget, so a
  run bounded by time (``--max-minutes``) still ends at the bottom of its cosine.

The VQ-VAE loop decays to zero (floor 0); the prior and context-model loops to 5% of the peak
(``PRIOR_FLOOR``).
"""

from __future__ import annotations

import math

from ..config import ScheduleConfig

SCHEDULES = ("constant", "cosine")
PRIOR_FLOOR = 0.05  # the prior and context loops end at 5% of their peak learning rate


def run_progress(
    step: int, total_steps: float, elapsed: float = 0.0, budget: float = math.inf
) -> float:
    """How far a run is, 0 at the start and >= 1 when done: the larger of ``step`` /
    ``total_steps`` and ``elapsed`` / ``budget`` (seconds; either total may be ``math.inf``)."""
    return max(step / total_steps, elapsed / budget)


def warmup(step: int, warmup_steps: int) -> float:
    """The warm-up factor of optimizer step ``step``: (step + 1) / warmup_steps, at most 1
    (1 throughout when ``warmup_steps`` is 0)."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0


def cosine(progress: float, floor: float = 0.0) -> float:
    """Half a cosine from 1 (progress 0) down to ``floor`` (progress >= 1)."""
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def learning_rate(
    base: float,
    step: int,
    progress: float,
    warmup_steps: int = 0,
    floor: float = 0.0,
    schedule: str = "cosine",
) -> float:
    """The learning rate of optimizer step ``step`` (0-based) at ``progress`` (see
    ``run_progress``): ``base`` x the warm-up factor x the schedule's shape.

    Args:
        base: the peak learning rate.
        step: optimizer steps taken so far.
        progress: the run's progress, 0..1 (``run_progress``).
        warmup_steps: steps of linear warm-up (0: none).
        floor: the cosine's end, a fraction of ``base``.
        schedule: "cosine" (down to ``floor`` x ``base``) or "constant".
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be constant or cosine, got {schedule!r}")
    warm = warmup(step, warmup_steps)
    if schedule == "constant":
        return base * warm
    return base * warm * cosine(progress, floor)


def scheduled_lr(
    schedule: ScheduleConfig, step: int, total_steps: float, elapsed: float, deadline: float
) -> float:
    """The VQ-VAE loop's learning rate for optimizer step ``step`` (0-based) under
    ``schedule``: warm-up over ``schedule.warmup_steps``, then ``schedule.lr_schedule``
    ("cosine" to zero over the larger of ``step`` / ``total_steps`` and ``elapsed`` /
    ``deadline`` seconds, or "constant")."""
    done = run_progress(step, total_steps, elapsed, deadline)
    return learning_rate(schedule.lr, step, done, schedule.warmup_steps, 0.0, schedule.lr_schedule)


# Evaluations of the VQ-VAE loop. A run given no --eval-every evaluates about EVALUATIONS
# times (the last at its end), at least MIN_EVAL_INTERVAL steps apart; a run planned in time
# alone (--max-minutes) at each tenth of its budget. Those along the way see a part of the
# test set sized so that they cost about EVAL_SHARE of the training: an evaluated image
# costs about a third of a trained one (a forward pass against forward + backward).
EVALUATIONS = 10
MIN_EVAL_INTERVAL = 100
EVAL_SHARE = 0.05
MIN_EVAL_IMAGES = 256


def evaluation_interval(total_steps: float, eval_every: int | None = None) -> float:
    """Steps between evaluations along a run of ``total_steps`` (``math.inf``: a run planned
    in time; evaluated by the clock instead): ``eval_every`` when given, else about
    ``EVALUATIONS`` evaluations in all, at least ``MIN_EVAL_INTERVAL`` steps apart."""
    if eval_every:
        return eval_every
    if not math.isfinite(total_steps):
        return math.inf
    return max(MIN_EVAL_INTERVAL, math.ceil(total_steps / EVALUATIONS))


def evaluation_size(test_images: int, total_steps: float, batch_size: int) -> int:
    """Test images seen by each evaluation along the way (the last one sees them all): as
    many as cost about ``EVAL_SHARE`` of the training's time over ``EVALUATIONS``
    evaluations, at least ``MIN_EVAL_IMAGES``, at most ``test_images``."""
    if not math.isfinite(total_steps):
        return test_images
    trained = total_steps * batch_size
    share = round(3 * EVAL_SHARE * trained / EVALUATIONS)
    return min(test_images, max(MIN_EVAL_IMAGES, share))
