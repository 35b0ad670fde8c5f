"""The system map's admin pages, mounted under /admin/system-map/ (behind admin's login)."""

from django.contrib import admin
from django.urls import path

from observability import system_map_views

urlpatterns = [
    path(
        "",
        admin.site.admin_view(system_map_views.system_map_index),
        name="observability_system_map",
    ),
    path(
        "<str:workflow>/",
        admin.site.admin_view(system_map_views.system_map_workflow),
        name="observability_system_map_workflow",
    ),
]
