"""Admin pages of the system map: every workflow's five lines, and a page per workflow with
its state diagram (inline SVG) and live counts per state."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404
from django.template.response import TemplateResponse

from observability.system_map import LINE_TITLES, LINES, system_map
from workflows import registry
from workflows.diagram import mermaid_state_diagram
from workflows.diagram_svg import state_diagram_svg

PERMISSION = "observability.view_alertrule"


def _require(request) -> None:
    # The map shows what watches each workflow: the alert rules' readers may see it.
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("viewing the system map needs observability.view_alertrule")


def _lines(mapped) -> list[tuple[str, list]]:
    return [(LINE_TITLES[line], mapped.lines[line]) for line in LINES]


def state_counts(*, definition) -> dict[str, int]:
    """Instances per state, in one grouped query."""
    return dict(definition.model.objects.values_list("state").annotate(n=Count("pk")).order_by())


def system_map_index(request):
    _require(request)
    maps = system_map()
    return TemplateResponse(
        request,
        "admin/observability/system_map.html",
        {
            **admin.site.each_context(request),
            "title": "System map",
            "maps": [(mapped, _lines(mapped)) for mapped in maps],
            "flagged": sum(len(mapped.flags) for mapped in maps),
        },
    )


def system_map_workflow(request, workflow: str):
    _require(request)
    try:
        definition = registry.get(workflow)
    except registry.UnknownWorkflow as error:
        raise Http404(str(error)) from error
    (mapped,) = system_map(workflow=workflow)
    counts = state_counts(definition=definition)
    return TemplateResponse(
        request,
        "admin/observability/system_map_workflow.html",
        {
            **admin.site.each_context(request),
            "title": f"System map: {definition.name}",
            "mapped": mapped,
            "lines": _lines(mapped),
            "diagram": state_diagram_svg(definition, counts=counts),
            "mermaid": mermaid_state_diagram(definition),
            "counts": sorted(counts.items()),
        },
    )
