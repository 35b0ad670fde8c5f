"""opscore's URLs plus the bench ceiling: a bare DRF endpoint that inserts one row."""

import json

from django.db import connection
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from opscore.urls import urlpatterns as opscore_urlpatterns


class Ceiling(APIView):
    """What a DRF POST that writes one row costs on this machine, with nothing else."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []

    def post(self, request):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_ceiling (body) VALUES (%s) RETURNING id",
                [json.dumps(json.loads(request.body))],
            )
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id}, status=201)


urlpatterns = [path("bench/ceiling", Ceiling.as_view()), *opscore_urlpatterns]
