"""Admin pages for the reports and recurring patterns, with CSV and JSON download.

Mounted under /admin/reports/ by opscore/urls.py. Staff reach them through admin's own
login; reading them takes observability.view_reports (a view-only staff member without it is
refused with 403, like any admin page they have no permission for).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from observability.reports import BadWindow, UnknownReport, all_reports, get_report, make_window
from observability.reports.rendering import as_csv, as_json

VIEW_REPORTS = "observability.view_reports"
DOWNLOADS = {"csv": ("text/csv; charset=utf-8", as_csv), "json": ("application/json", as_json)}


def _require_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_REPORTS):
        raise PermissionDenied("viewing reports takes the observability.view_reports permission")


def report_index(request: HttpRequest) -> HttpResponse:
    _require_permission(request)
    return render(
        request,
        "admin/observability/report_index.html",
        {**admin.site.each_context(request), "title": "Reports", "reports": all_reports()},
    )


def report_detail(request: HttpRequest, name: str) -> HttpResponse:
    _require_permission(request)
    try:
        report = get_report(name)
    except UnknownReport as error:
        raise Http404(str(error)) from None
    since, until = request.GET.get("since", ""), request.GET.get("until", "")
    context = {
        **admin.site.each_context(request),
        "title": report.title,
        "report": report,
        "since": since,
        "until": until,
    }
    try:
        window = make_window(
            since=since or None, until=until or None, default_span=report.default_span
        )
    except BadWindow as error:
        context["error"] = str(error)
        return render(request, "admin/observability/report_detail.html", context, status=400)
    table = report.build(window)
    download = DOWNLOADS.get(request.GET.get("format", ""))
    if download is not None:
        content_type, renderer = download
        extension = request.GET["format"]
        response = HttpResponse(renderer(table), content_type=content_type)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = (
            f'attachment; filename="{report.name}-{stamp}.{extension}"'
        )
        return response
    context["table"] = table
    return render(request, "admin/observability/report_detail.html", context)


app_name = "observability_reports"
urlpatterns = [
    path("", admin.site.admin_view(report_index), name="index"),
    path("<slug:name>/", admin.site.admin_view(report_detail), name="detail"),
]
