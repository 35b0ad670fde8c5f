"""Read API over workflow instances, their timelines and executions."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from audit.models import Event
from audit.selectors import instance_timeline
from integrations.models import Scope
from opscore.api_errors import problem_responses
from workflows import registry, selectors
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class InstanceSerializer(serializers.Serializer):
    workflow = serializers.CharField(source="workflow_name")
    id = serializers.IntegerField()
    correlation_key = serializers.CharField()
    state = serializers.CharField()
    version = serializers.IntegerField()
    context = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TimelineEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "seq",
            "type",
            "occurred_at",
            "recorded_at",
            "actor_kind",
            "actor_ref",
            "payload",
            "hash",
        ]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    workflow = serializers.SerializerMethodField()

    class Meta:
        model = Execution
        fields = [
            "id",
            "workflow",
            "instance_id",
            "instance_version",
            "step",
            "idempotency_key",
            "status",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_error",
            "result",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_workflow(self, execution: Execution) -> str:
        return getattr(execution.instance_type.model_class(), "workflow_name", "")


class InstanceFilter(serializers.Serializer):
    state = serializers.CharField(required=False, max_length=50)
    correlation_key = serializers.CharField(required=False, max_length=200)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class ExecutionFilter(serializers.Serializer):
    workflow = serializers.CharField(required=False, max_length=100)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
    step = serializers.CharField(required=False, max_length=100)


WORKFLOW_PARAMETER = OpenApiParameter(
    "workflow",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A registered workflow name, e.g. `order`.",
)


def _instances(workflow: str, **filters):
    try:
        return selectors.instances(workflow=workflow, **filters)
    except registry.UnknownWorkflow as error:
        raise NotFound(str(error)) from error


class InstanceList(generics.ListAPIView):
    """Instances of one workflow, newest first, cursor-paginated."""

    required_scope = Scope.INSTANCES_READ
    serializer_class = InstanceSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        query = InstanceFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return _instances(self.kwargs["workflow"], **query.validated_data)

    @extend_schema(
        parameters=[WORKFLOW_PARAMETER, InstanceFilter],
        responses={200: InstanceSerializer(many=True), **problem_responses(400, 401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InstanceDetail(generics.RetrieveAPIView):
    required_scope = Scope.INSTANCES_READ
    serializer_class = InstanceSerializer

    def get_queryset(self):
        return _instances(self.kwargs["workflow"])

    @extend_schema(
        parameters=[WORKFLOW_PARAMETER],
        responses={200: InstanceSerializer, **problem_responses(401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InstanceTimeline(generics.ListAPIView):
    """The instance's events from the audit log, oldest first (not paginated: one instance)."""

    required_scope = Scope.INSTANCES_READ
    serializer_class = TimelineEventSerializer
    pagination_class = None

    def get_queryset(self):
        instance = _instances(self.kwargs["workflow"]).filter(pk=self.kwargs["pk"]).first()
        if instance is None:
            raise NotFound("no such instance")
        return instance_timeline(instance=instance)

    @extend_schema(
        parameters=[WORKFLOW_PARAMETER],
        responses={
            200: TimelineEventSerializer(many=True),
            **problem_responses(401, 403, 404),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ExecutionList(generics.ListAPIView):
    """Executions (side effects of machine steps), newest first, cursor-paginated."""

    required_scope = Scope.EXECUTIONS_READ
    serializer_class = ExecutionSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        query = ExecutionFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        try:
            return selectors.executions(**query.validated_data)
        except registry.UnknownWorkflow as error:
            raise NotFound(str(error)) from error

    @extend_schema(
        parameters=[ExecutionFilter],
        responses={200: ExecutionSerializer(many=True), **problem_responses(400, 401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ExecutionDetail(generics.RetrieveAPIView):
    required_scope = Scope.EXECUTIONS_READ
    serializer_class = ExecutionSerializer

    def get_queryset(self):
        return selectors.executions()

    @extend_schema(responses={200: ExecutionSerializer, **problem_responses(401, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


urlpatterns = [
    path("instances/<slug:workflow>/", InstanceList.as_view(), name="instance-list"),
    path("instances/<slug:workflow>/<int:pk>", InstanceDetail.as_view(), name="instance-detail"),
    path(
        "instances/<slug:workflow>/<int:pk>/timeline",
        InstanceTimeline.as_view(),
        name="instance-timeline",
    ),
    path("executions/", ExecutionList.as_view(), name="execution-list"),
    path("executions/<int:pk>", ExecutionDetail.as_view(), name="execution-detail"),
]
