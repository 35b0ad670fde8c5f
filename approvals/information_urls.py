from django.urls import path

from approvals.information_views import answer_information

app_name = "approvals"

urlpatterns = [
    path("<str:token>/", answer_information, name="answer_information"),
]
