from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from opscore.api_errors import UnknownEndpoint

admin.site.site_header = "opscore"
admin.site.site_title = "opscore"
admin.site.index_title = "Operations"
# No public site stands beside the admin: "View site" would open a 404.
admin.site.site_url = None

urlpatterns = [
    # Before admin.site.urls, whose catch-all would answer 404 for this prefix.
    path("admin/reports/", include("observability.report_views")),
    path("admin/system-map/", include("observability.system_map_urls")),
    path("admin/", admin.site.urls),
    # A requester answers a reviewer's question here, from the signed link in their email.
    path("information/", include("approvals.information_urls")),
    path("metrics", include("observability.metrics.urls")),
    path("api/v1/decisions/", include("decisions.api")),
    path("api/v1/tasks/", include("approvals.api")),
    path("api/v1/", include("integrations.api")),
    path("api/v1/", include("workflows.api")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", UnknownEndpoint.as_view()),
]
