"""REST API of the approvals layer: a reviewer's tasks, claim, approve, reject, release.

Thin: serializers validate, each view calls one service, and refusals become DRF exceptions
(the project's exception handler formats them): 404 for a task outside the caller's queues,
403 for four-eyes and missing permissions, 409 when someone else got there first.

Session only: deciding needs a person, so API keys are refused (403) on every task endpoint.
"""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from approvals import selectors, services
from approvals.models import ReviewTask
from approvals.permissions import WORK_PERMISSION
from opscore.actors import Actor
from opscore.api_errors import problem_responses
from opscore.api_permissions import is_key_request
from workflows import engine


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The task changed before this request: someone else got there first."
    default_code = "conflict"


class CanWorkTasks(permissions.BasePermission):
    message = f"You do not work review queues ({WORK_PERMISSION})."

    def has_permission(self, request, view) -> bool:
        if is_key_request(request):
            self.message = "Review tasks are worked by people: API keys are refused here."
            return False
        return bool(request.user and request.user.has_perm(WORK_PERMISSION))


# The project's defaults first (the key-scope check among them: no task view names a scope),
# so these views add to them rather than replace them.
TASK_PERMISSIONS = [*api_settings.DEFAULT_PERMISSION_CLASSES, CanWorkTasks]
TASK_403 = (
    f"No {WORK_PERMISSION}, or an API key (tasks are session-only); on actions also "
    "four-eyes (you started this instance), not in the task's queue, or not permitted."
)


class TaskSerializer(serializers.ModelSerializer):
    queue = serializers.CharField(source="queue.name", read_only=True)
    assignee = serializers.CharField(source="assignee.username", read_only=True, default=None)
    escalated_to = serializers.CharField(source="escalated_to.name", read_only=True, default=None)
    instance_type = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = ReviewTask
        fields = [
            "id",
            "title",
            "workflow",
            "step",
            "instance_type",
            "instance_id",
            "queue",
            "assignee",
            "status",
            "opened_at",
            "due_at",
            "escalation_level",
            "escalated_to",
            "outcome",
            "reason",
            "information_requested",
            "information_requested_at",
            "information_answer",
            "information_answered_at",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields

    def get_instance_type(self, task: ReviewTask) -> str:
        return task.workflow

    def get_decided_by(self, task: ReviewTask) -> str | None:
        return task.decided_by.get_username() if task.decided_by_id else None


class ApproveRequest(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class RejectRequest(serializers.Serializer):
    reason = serializers.CharField(help_text="Why; required.")


QUEUES = {
    "mine": selectors.my_tasks,
    "team": selectors.team_queue,
    "unassigned": selectors.unassigned_tasks,
    "overdue": selectors.overdue_tasks,
    "escalated": selectors.escalated_tasks,
}


@extend_schema(
    parameters=[
        OpenApiParameter("queue", OpenApiTypes.STR, enum=list(QUEUES), description="default: mine")
    ],
    responses={200: TaskSerializer(many=True), **problem_responses(400, 401, 403, d403=TASK_403)},
)
class TaskList(generics.ListAPIView):
    """The caller's tasks (?queue=mine, the default), or team, unassigned, overdue, escalated."""

    serializer_class = TaskSerializer
    permission_classes = TASK_PERMISSIONS

    def get_queryset(self):
        name = self.request.query_params.get("queue", "mine")
        if name not in QUEUES:
            raise ValidationError({"queue": [f"one of {', '.join(QUEUES)}"]})
        return QUEUES[name](user=self.request.user).select_related("decided_by")[:500]


@extend_schema(responses={200: TaskSerializer, **problem_responses(401, 403, 404, d403=TASK_403)})
class TaskDetail(generics.RetrieveAPIView):
    serializer_class = TaskSerializer
    permission_classes = TASK_PERMISSIONS

    def get_queryset(self):
        return selectors.visible_tasks(user=self.request.user).select_related("decided_by")


class TaskActionView(APIView):
    """POST to /<id>/<action>; the body is validated by `request_serializer`, if any."""

    permission_classes = TASK_PERMISSIONS
    request_serializer: type[serializers.Serializer] | None = None

    def perform(self, *, task: ReviewTask, actor: Actor, data: dict) -> ReviewTask:
        raise NotImplementedError

    def post(self, request, pk: int):
        task = selectors.visible_tasks(user=request.user).filter(pk=pk).first()
        if task is None:
            raise NotFound(f"no task {pk} in your queues")
        data: dict = {}
        if self.request_serializer is not None:
            payload = self.request_serializer(data=request.data)
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
        try:
            task = self.perform(task=task, actor=Actor.for_user(request.user), data=data)
        except services.TaskConflict as error:
            raise Conflict(str(error)) from error
        except (
            services.SelfApprovalRefused,
            services.NotInQueue,
            engine.TransitionNotPermitted,
        ) as error:
            raise PermissionDenied(str(error)) from error
        except services.ReasonRequired as error:
            raise ValidationError({"reason": [str(error)]}) from error
        except engine.WorkflowError as error:
            raise Conflict(str(error)) from error
        task = selectors.visible_tasks(user=request.user).select_related("decided_by").get(pk=pk)
        return Response(TaskSerializer(task).data)


def _action_schema(request: type[serializers.Serializer] | None = None):
    return extend_schema_view(
        post=extend_schema(
            request=request,
            responses={
                200: TaskSerializer,
                **problem_responses(
                    400,
                    401,
                    403,
                    404,
                    409,
                    d403=TASK_403,
                    d409="the task changed first (someone else claimed or decided it)",
                ),
            },
        )
    )


@_action_schema()
class ClaimView(TaskActionView):
    def perform(self, *, task, actor, data):
        return services.claim_task(task=task, actor=actor)


@_action_schema()
class ReleaseView(TaskActionView):
    def perform(self, *, task, actor, data):
        return services.release_task(task=task, actor=actor)


@_action_schema(ApproveRequest)
class ApproveView(TaskActionView):
    request_serializer = ApproveRequest

    def perform(self, *, task, actor, data):
        return services.approve_task(task=task, actor=actor, comment=data["comment"])


@_action_schema(RejectRequest)
class RejectView(TaskActionView):
    request_serializer = RejectRequest

    def perform(self, *, task, actor, data):
        return services.reject_task(task=task, actor=actor, reason=data["reason"])


urlpatterns = [
    path("", TaskList.as_view(), name="task-list"),
    path("<int:pk>", TaskDetail.as_view(), name="task-detail"),
    path("<int:pk>/claim", ClaimView.as_view(), name="task-claim"),
    path("<int:pk>/release", ReleaseView.as_view(), name="task-release"),
    path("<int:pk>/approve", ApproveView.as_view(), name="task-approve"),
    path("<int:pk>/reject", RejectView.as_view(), name="task-reject"),
]
