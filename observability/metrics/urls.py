from django.urls import path

from observability.metrics.views import metrics_view

urlpatterns = [path("", metrics_view, name="metrics")]
