"""The kernel's one table: rate-limit windows shared by every process."""

from django.db import models


class RateWindow(models.Model):
    """Requests one caller made in one fixed window (`slot`: scope, caller, window start).

    A row per caller and window, counted with one upsert per request; rows whose window has
    ended are deleted when their caller opens a new one.
    """

    slot = models.CharField(max_length=200, primary_key=True)
    hits = models.PositiveIntegerField()
    ends_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.slot}: {self.hits}"
