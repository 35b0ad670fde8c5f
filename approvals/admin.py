"""The reviewers' daily tool: queues of review tasks, worked with admin actions.

Each queue is a proxy model with its own admin whose rows come from one selector; every
action calls one service per task and reports with message_user. Lists join only what they
show (no per-row queries) and never count the whole table.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from approvals import selectors, services
from approvals.business_hours import InvalidCalendar, check_calendar
from approvals.models import (
    EscalatedTask,
    EscalationPolicy,
    MyTask,
    OverdueTask,
    ReviewTask,
    TeamTask,
    UnassignedTask,
)
from approvals.permissions import WORK_PERMISSION
from audit.config_admin import ConfigAuditedAdmin
from opscore.actors import Actor
from opscore.admin_base import (
    ExplainRefusedActionsMixin,
    HistoryReadOnlyAdmin,
    ReadOnlyAdminMixin,
    json_block,
)
from privacy import sealing
from workflows import engine, registry
from workflows.registry import HumanStep


class TaskActionForm(ActionForm):
    text = forms.CharField(
        required=False,
        label="Reason / message",
        help_text="Required to reject or to request information; a comment on approve.",
        widget=forms.TextInput(attrs={"size": 40}),
    )
    assignee = forms.CharField(required=False, label="Reassign to (username)")


class CappedCountPaginator(Paginator):
    """Counts a queue only up to `cap` (then the page says "more than"): a reviewer needs
    to know the queue is long, not to wait for 100,000 rows to be counted on every page."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap + 1].count()


class HumanStepFilter(admin.SimpleListFilter):
    """The human steps the registry declares: a field filter would run SELECT DISTINCT over the
    whole queue on every page."""

    title = "step"
    parameter_name = "step"

    def lookups(self, request, model_admin):
        steps = {
            (step.name, f"{definition.name}: {step.name}")
            for definition in registry.all_definitions()
            for step in definition.steps
            if isinstance(step, HumanStep)
        }
        return sorted(steps)

    def queryset(self, request, queryset):
        return queryset.filter(step=self.value()) if self.value() else queryset


class TaskQueueAdmin(ExplainRefusedActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A queue of review tasks; subclasses name the selector that fills it."""

    selector = staticmethod(selectors.visible_tasks)
    list_display = [
        "title",
        "step",
        "queue",
        "assignee",
        "status",
        "due",
        "escalation_level",
        "escalated_to",
    ]
    list_display_links = ["title"]
    list_filter = [HumanStepFilter, "status"]
    list_select_related = ["queue", "assignee", "escalated_to"]
    list_per_page = 50
    paginator = CappedCountPaginator
    show_full_result_count = False
    search_fields = ["=title"]
    ordering = ["due_at", "id"]
    action_form = TaskActionForm
    actions = [
        "claim",
        "release",
        "reassign",
        "approve",
        "reject",
        "request_info",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "title",
                    "instance_link",
                    "instance_state",
                    "step",
                    "queue",
                    "assignee",
                    "status",
                    "due_at",
                    "escalation",
                    "information",
                    "decision_made",
                ]
            },
        ),
        ("Instance context", {"fields": ["context_pretty"]}),
        ("Why it is here", {"fields": ["routing"]}),
        ("Timeline", {"fields": ["timeline"]}),
    ]
    readonly_fields = [
        "title",
        "instance_link",
        "instance_state",
        "step",
        "queue",
        "assignee",
        "status",
        "due_at",
        "escalation",
        "information",
        "decision_made",
        "context_pretty",
        "routing",
        "timeline",
    ]

    def get_queryset(self, request):
        return self.selector(user=request.user)

    # Reviewers work tasks through the services; nobody edits task rows by hand.
    def has_view_permission(self, request, obj=None):
        user = request.user
        return user.is_active and user.is_staff and user.has_perm(WORK_PERMISSION)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_work_permission(self, request) -> bool:
        # Each service then checks the person against the task (queue, four-eyes, the step's
        # own permission); this only keeps the actions away from people who work no tasks.
        return self.has_view_permission(request)

    def get_actions(self, request):
        # Actions are how tasks are worked, so they stay although rows are not editable.
        if not self.has_view_permission(request):
            return {}
        return super().get_actions(request)

    @admin.display(description="due", ordering="due_at")
    def due(self, task: ReviewTask) -> str:
        if task.is_active and task.due_at < timezone.now():
            return format_html(
                '<strong style="color:#ba2121">{} (overdue)</strong>',
                f"{timezone.localtime(task.due_at):%Y-%m-%d %H:%M}",
            )
        return f"{timezone.localtime(task.due_at):%Y-%m-%d %H:%M}"

    # --- the task page ----------------------------------------------------------------------

    def _instance(self, task: ReviewTask):
        cached = getattr(task, "_opscore_instance", None)
        if cached is None:
            cached = selectors.task_instance(task=task)
            task._opscore_instance = cached
        return cached

    @admin.display(description="instance")
    def instance_link(self, task: ReviewTask) -> str:
        instance = self._instance(task)
        opts = instance._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[instance.pk])
        return format_html("<a href='{}'>{}</a>", url, instance)

    @admin.display(description="instance state")
    def instance_state(self, task: ReviewTask) -> str:
        instance = self._instance(task)
        return f"{instance.get_state_display()} (version {instance.version})"

    @admin.display(description="escalation")
    def escalation(self, task: ReviewTask) -> str:
        if not task.escalation_level:
            return "not escalated"
        return (
            f"level {task.escalation_level} to {task.escalated_to} "
            f"at {timezone.localtime(task.escalated_at):%Y-%m-%d %H:%M}"
        )

    @admin.display(description="information requested")
    def information(self, task: ReviewTask) -> str:
        return task.information_requested or "—"

    @admin.display(description="decision")
    def decision_made(self, task: ReviewTask) -> str:
        if not task.decided_at:
            return "—"
        who = task.decided_by.get_username() if task.decided_by_id else "system"
        reason = f": {task.reason}" if task.reason else ""
        return f"{task.get_status_display()} ({task.outcome}) by {who}{reason}"

    @admin.display(description="context")
    def context_pretty(self, task: ReviewTask) -> str:
        context = self._instance(task).context
        return json_block(sealing.reveal(context))

    @admin.display(description="automated decision")
    def routing(self, task: ReviewTask) -> str:
        return render_to_string(
            "admin/approvals/routing_decision.html",
            {"record": selectors.routing_decision(task=task)},
        )

    @admin.display(description="timeline")
    def timeline(self, task: ReviewTask) -> str:
        return render_to_string(
            "admin/workflows/timeline_table.html",
            {"events": selectors.task_timeline(task=task)},
        )

    # --- actions ------------------------------------------------------------------------------

    def _each(self, request, queryset, verb: str, call) -> None:
        actor = Actor.for_user(request.user)
        done = 0
        for task in queryset:
            try:
                call(task, actor)
                done += 1
            except engine.WorkflowError as error:
                self.message_user(request, f"Task {task.pk}: {error}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} task(s).", messages.SUCCESS)

    @admin.action(description="Claim selected tasks", permissions=["work"])
    def claim(self, request, queryset):
        self._each(request, queryset, "Claimed", lambda t, a: services.claim_task(task=t, actor=a))

    @admin.action(description="Release selected tasks back to their queue", permissions=["work"])
    def release(self, request, queryset):
        self._each(
            request, queryset, "Released", lambda t, a: services.release_task(task=t, actor=a)
        )

    @admin.action(
        description="Reassign selected tasks (to the username given)", permissions=["work"]
    )
    def reassign(self, request, queryset):
        username = request.POST.get("assignee", "").strip()
        assignee = get_user_model().objects.filter(username=username, is_active=True).first()
        if assignee is None:
            self.message_user(
                request, f"No active user {username!r} to reassign to.", messages.ERROR
            )
            return
        self._each(
            request,
            queryset,
            f"Reassigned to {username}",
            lambda t, a: services.reassign_task(task=t, actor=a, assignee=assignee),
        )

    @admin.action(description="Approve selected tasks", permissions=["work"])
    def approve(self, request, queryset):
        comment = request.POST.get("text", "").strip()
        self._each(
            request,
            queryset,
            "Approved",
            lambda t, a: services.approve_task(task=t, actor=a, comment=comment),
        )

    @admin.action(description="Reject selected tasks (reason required)", permissions=["work"])
    def reject(self, request, queryset):
        reason = request.POST.get("text", "").strip()
        if not reason:
            self.message_user(request, "A reason is required to reject.", messages.ERROR)
            return
        self._each(
            request,
            queryset,
            "Rejected",
            lambda t, a: services.reject_task(task=t, actor=a, reason=reason),
        )

    @admin.action(description="Request more information (message required)", permissions=["work"])
    def request_info(self, request, queryset):
        message = request.POST.get("text", "").strip()
        if not message:
            self.message_user(request, "Say what information is needed.", messages.ERROR)
            return
        self._each(
            request,
            queryset,
            "Requested information on",
            lambda t, a: services.request_information(task=t, actor=a, message=message),
        )


@admin.register(ReviewTask)
class ReviewTaskAdmin(TaskQueueAdmin):
    """Every task the user may see, open or closed: where email links point."""

    list_filter = ["status", HumanStepFilter]


@admin.register(MyTask)
class MyTaskAdmin(TaskQueueAdmin):
    selector = staticmethod(selectors.my_tasks)


@admin.register(TeamTask)
class TeamTaskAdmin(TaskQueueAdmin):
    selector = staticmethod(selectors.team_queue)


@admin.register(UnassignedTask)
class UnassignedTaskAdmin(TaskQueueAdmin):
    selector = staticmethod(selectors.unassigned_tasks)


@admin.register(OverdueTask)
class OverdueTaskAdmin(TaskQueueAdmin):
    selector = staticmethod(selectors.overdue_tasks)


@admin.register(EscalatedTask)
class EscalatedTaskAdmin(TaskQueueAdmin):
    selector = staticmethod(selectors.escalated_tasks)


class EscalationPolicyForm(forms.ModelForm):
    class Meta:
        model = EscalationPolicy
        fields = [
            "workflow",
            "step",
            "sla",
            "business_hours",
            "reminder_before",
            "escalate_to",
            "further_levels",
            "expire_after",
        ]

    def clean_business_hours(self):
        calendar = self.cleaned_data.get("business_hours")
        if calendar:
            try:
                check_calendar(calendar)
            except InvalidCalendar as error:
                raise forms.ValidationError(str(error)) from error
        return calendar

    def clean_further_levels(self):
        levels = self.cleaned_data.get("further_levels") or []
        if not isinstance(levels, list):
            raise forms.ValidationError("a list of levels")
        for level in levels:
            if not isinstance(level, dict) or set(level) != {"after_minutes", "escalate_to"}:
                raise forms.ValidationError(
                    'each level is {"after_minutes": <number>, "escalate_to": "<group>"}'
                )
            if not Group.objects.filter(name=level["escalate_to"]).exists():
                raise forms.ValidationError(f"no group named {level['escalate_to']!r}")
        return levels


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(ConfigAuditedAdmin, HistoryReadOnlyAdmin):
    config_fields = EscalationPolicyForm.Meta.fields
    form = EscalationPolicyForm
    list_display = ["workflow", "step", "sla", "reminder_before", "escalate_to", "updated_at"]
    list_select_related = ["escalate_to"]
