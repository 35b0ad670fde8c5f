"""Read API over workflow instances, their timelines and executions.

Who reads what: a person needs the `view` permission of the workflow's model (and
`view_execution` for executions), and list endpoints show only workflows they may view; an API
key sees the instances its integration's events started or signalled, or every one with the
`instances:read_all` scope. Timelines and executions follow their instance.
"""

from __future__ import annotations

from collections.abc import Callable

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound

from audit.models import Event
from audit.selectors import instance_timeline
from opscore.api_errors import problem_responses
from opscore.api_permissions import ReadByPermission, is_key_request
from opscore.pagination import NewestFirst
from privacy.serializers import RevealedJSONField
from workflows import registry, selectors
from workflows.declaration import WorkflowDefinition
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus


class InstanceSerializer(serializers.Serializer):
    workflow = serializers.CharField(source="workflow_name")
    id = serializers.IntegerField()
    correlation_key = serializers.CharField()
    state = serializers.CharField()
    version = serializers.IntegerField()
    context = RevealedJSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TimelineEventSerializer(serializers.ModelSerializer):
    payload = RevealedJSONField(read_only=True)

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


def _definition(workflow: str) -> WorkflowDefinition:
    try:
        return registry.get(workflow)
    except registry.UnknownWorkflow as error:
        raise NotFound(str(error)) from error


# The layers that issue credentials say what each may read: a provider takes `request.auth`
# and answers its Visibility, or None for a credential that is not its own (integrations: API
# keys). Appended to in their AppConfig.ready().
CREDENTIAL_VISIBILITY: list[Callable[[object], selectors.Visibility | None]] = []


def visibility(request) -> selectors.Visibility:
    """The instances this caller may read: by a person's view permissions, or a key's own."""
    if is_key_request(request):
        for provider in CREDENTIAL_VISIBILITY:
            found = provider(request.auth)
            if found is not None:
                return found
        return selectors.Visibility(workflows={})  # a credential no layer knows sees nothing
    return selectors.visibility_for_user(user=request.user)


def _instances(request, workflow: str, **filters):
    return selectors.instances(
        workflow=_definition(workflow).name, visibility=visibility(request), **filters
    )


def _instance_model(execution_or_record) -> list:
    model = execution_or_record.instance_type.model_class()
    return [model] if model is not None else []


# What an API key needs to call these views, named by value: the engine does not import the
# trigger layer that issues the keys (integrations.Scope, checked by its permission class).
INSTANCES_READ = "instances:read"
EXECUTIONS_READ = "executions:read"


class InstanceReadView(ReadByPermission):
    """Instance-scoped: a session needs the view permission of the workflow in the URL."""

    def permission_models(self):
        return [_definition(self.kwargs["workflow"]).model]

    def permission_models_for(self, instance):
        return [type(instance)]


PERMISSION_403 = (
    "A session without the view permission of this workflow's model "
    "(e.g. processes.view_order), or an API key without instances:read."
)
EXECUTION_403 = (
    "A session without workflows.view_execution (or, with ?workflow=, that workflow's view "
    "permission), or an API key without executions:read."
)


class InstanceList(InstanceReadView, generics.ListAPIView):
    """Instances of one workflow, newest first, cursor-paginated."""

    required_scope = INSTANCES_READ
    serializer_class = InstanceSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        query = InstanceFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return _instances(self.request, self.kwargs["workflow"], **query.validated_data)

    @extend_schema(
        parameters=[WORKFLOW_PARAMETER, InstanceFilter],
        responses={
            200: InstanceSerializer(many=True),
            **problem_responses(400, 401, 403, 404, d403=PERMISSION_403),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InstanceDetail(InstanceReadView, generics.RetrieveAPIView):
    """One instance; 404 for one the caller may not see (another integration's)."""

    required_scope = INSTANCES_READ
    serializer_class = InstanceSerializer

    def get_queryset(self):
        return _instances(self.request, self.kwargs["workflow"])

    @extend_schema(
        parameters=[WORKFLOW_PARAMETER],
        responses={
            200: InstanceSerializer,
            **problem_responses(401, 403, 404, d403=PERMISSION_403),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InstanceTimeline(InstanceReadView, generics.ListAPIView):
    """The instance's events from the audit log, oldest first (not paginated: one instance).

    Readable by whoever may read the instance: admin shows the same timeline on the instance's
    page to anyone with its view permission, so `audit.view_event` is not required here.
    """

    required_scope = INSTANCES_READ
    serializer_class = TimelineEventSerializer
    pagination_class = None

    def get_queryset(self):
        workflow = self.kwargs["workflow"]
        instance = _instances(self.request, workflow).filter(pk=self.kwargs["pk"]).first()
        if instance is None:
            raise NotFound("no such instance")
        self.check_object_permissions(self.request, instance)
        return instance_timeline(instance=instance)

    @extend_schema(
        parameters=[WORKFLOW_PARAMETER],
        responses={
            200: TimelineEventSerializer(many=True),
            **problem_responses(401, 403, 404, d403=PERMISSION_403),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ExecutionReadView(ReadByPermission):
    """A session needs view_execution, and sees executions of the workflows it may view."""

    permission_model = Execution

    def permission_models_for(self, execution):
        return [Execution, *_instance_model(execution)]


class ExecutionList(ExecutionReadView, generics.ListAPIView):
    """Executions (side effects of machine steps), newest first, cursor-paginated."""

    required_scope = EXECUTIONS_READ
    serializer_class = ExecutionSerializer
    pagination_class = NewestFirst

    def permission_models(self):
        # Naming a workflow asks for its executions: that workflow's view permission too,
        # so the answer is the same 403 as /instances/<workflow>/, not a silent empty page.
        try:
            named = registry.get(self.request.query_params.get("workflow", ""))
        except registry.UnknownWorkflow:
            return [Execution]  # none named, or unknown: the query answers that (404)
        return [Execution, named.model]

    def get_queryset(self):
        query = ExecutionFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        try:
            return selectors.executions(visibility=visibility(self.request), **query.validated_data)
        except registry.UnknownWorkflow as error:
            raise NotFound(str(error)) from error

    @extend_schema(
        parameters=[ExecutionFilter],
        responses={
            200: ExecutionSerializer(many=True),
            **problem_responses(400, 401, 403, 404, d403=EXECUTION_403),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ExecutionDetail(ExecutionReadView, generics.RetrieveAPIView):
    """One execution; 404 for one of an instance the caller may not see."""

    required_scope = EXECUTIONS_READ
    serializer_class = ExecutionSerializer

    def get_queryset(self):
        return selectors.executions(visibility=visibility(self.request))

    @extend_schema(
        responses={
            200: ExecutionSerializer,
            **problem_responses(401, 403, 404, d403=EXECUTION_403),
        }
    )
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
