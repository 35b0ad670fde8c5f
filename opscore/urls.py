from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "opscore"
admin.site.site_title = "opscore"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/decisions/", include("decisions.api")),
    path("api/v1/tasks/", include("approvals.api")),
]
