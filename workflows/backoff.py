"""Retry delays: exponential with equal jitter, so retries of a crowd do not arrive in step."""

import random
from datetime import timedelta

from django.conf import settings


def retry_delay(*, attempt: int, rng: random.Random | None = None) -> timedelta:
    config = settings.OPSCORE_EXECUTION
    ceiling = min(
        config["BACKOFF_MAX_SECONDS"], config["BACKOFF_BASE_SECONDS"] * 2 ** max(attempt - 1, 0)
    )
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))
