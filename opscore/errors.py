"""Error kinds shared by the layers: what a caller may retry and what it must not."""


class RetryableError(Exception):
    """A failure that may succeed on another attempt (timeouts, 5xx, a dropped connection)."""


class PermanentError(Exception):
    """A failure that another attempt will not fix (4xx, invalid data): goes to the dead letter."""
