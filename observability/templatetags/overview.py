"""The admin start page's blocks, computed for the viewer (templates/admin/index.html)."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.safestring import mark_safe

from observability.overview_charts import bar_chart_svg
from observability.overview_selectors import (
    operations_block,
    overview_charts,
    queues_block,
    system_map_url,
)

register = template.Library()


@register.simple_tag(takes_context=True)
def overview_blocks(context) -> dict:
    request = context["request"]
    user = request.user
    return {
        "queues": queues_block(user=user),
        "operations": operations_block(user=user),
        "system_map_url": system_map_url(user=user),
        # Built here, not in the template: each chart is one SVG string, escaped on the way.
        "charts": [mark_safe(bar_chart_svg(chart)) for chart in overview_charts()],  # noqa: S308
    }


@register.filter
def age(value: timedelta | None) -> str:
    """An age as the queues speak of it: 3 d 4 h, 2 h 5 min, 40 min."""
    if value is None:
        return "-"
    minutes = max(int(value.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
