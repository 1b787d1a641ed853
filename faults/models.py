"""One row per fault flag that differs from its default."""

from django.db import models


class FaultFlag(models.Model):
    name = models.CharField(max_length=50, primary_key=True)
    value = models.FloatField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}={self.value:g}"
