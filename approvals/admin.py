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
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
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
    ServiceActionsMixin,
)
from opscore.admin_links import admin_url, link_or_text
from opscore.moments import moment
from workflows import engine, registry
from workflows.admin import INSTANCE_PAGE_LINKS
from workflows.context_display import render_business_context
from workflows.declaration import HumanStep
from workflows.selectors import where_it_stands


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


class TaskQueueAdmin(
    ServiceActionsMixin,
    ExplainRefusedActionsMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    """A queue of review tasks; subclasses name the selector that fills it.

    A task's page carries the decisions its viewer may take as buttons (`task_offer`), each a
    POST to `work_view`, which calls one service; the list's actions work several at once.
    """

    change_form_template = "admin/approvals/task_change_form.html"

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
                    "instance_link",
                    "instance_state",
                    "step",
                    "queue_name",
                    "assignee_name",
                    "status",
                    "due_when",
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
        "queue_name",
        "assignee_name",
        "status",
        "due_when",
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
                '<strong style="color:#ba2121">{} (overdue)</strong>', moment(task.due_at)
            )
        return moment(task.due_at)

    @admin.display(description="due")
    def due_when(self, task: ReviewTask) -> str:
        return self.due(task)

    # --- the task page ----------------------------------------------------------------------

    def _instance(self, task: ReviewTask):
        cached = getattr(task, "_opscore_instance", None)
        if cached is None:
            cached = selectors.task_instance(task=task)
            task._opscore_instance = cached
        return cached

    @admin.display(description="instance")
    def instance_link(self, task: ReviewTask) -> str:
        return link_or_text(self._instance(task))

    @admin.display(description="queue")
    def queue_name(self, task: ReviewTask) -> str:
        return link_or_text(task.queue)

    @admin.display(description="assignee")
    def assignee_name(self, task: ReviewTask) -> str:
        return link_or_text(task.assignee) if task.assignee_id else "—"

    @admin.display(description="instance state")
    def instance_state(self, task: ReviewTask) -> str:
        instance = self._instance(task)
        return f"{instance.get_state_display()} (version {instance.version})"

    @admin.display(description="escalation")
    def escalation(self, task: ReviewTask) -> str:
        if not task.escalation_level:
            return "not escalated"
        return (
            f"level {task.escalation_level} to {task.escalated_to} at {moment(task.escalated_at)}"
        )

    @admin.display(description="information requested")
    def information(self, task: ReviewTask) -> str:
        if not task.information_requested:
            return "—"
        if task.awaiting_information:
            return format_html(
                "{}<br><em>Waiting for the requester's answer since {}.</em>",
                task.information_requested,
                moment(task.information_requested_at),
            )
        return format_html(
            "{}<br><strong>Answered {}:</strong> {}",
            task.information_requested,
            moment(task.information_answered_at),
            task.information_answer,
        )

    @admin.display(description="decision")
    def decision_made(self, task: ReviewTask) -> str:
        if not task.decided_at:
            return "—"
        who = task.decided_by.get_username() if task.decided_by_id else "system"
        reason = f": {task.reason}" if task.reason else ""
        when = moment(task.decided_at)
        return f"{task.get_status_display()} ({task.outcome}) by {who} at {when}{reason}"

    @admin.display(description="context")
    def context_pretty(self, task: ReviewTask) -> str:
        # Shown as the instance's own admin declares its process's context.
        instance = self._instance(task)
        model = type(instance)
        sections = ()
        if admin.site.is_registered(model):
            sections = getattr(admin.site.get_model_admin(model), "context_sections", ())
        return render_business_context(instance.context, sections)

    @admin.display(description="automated decision")
    def routing(self, task: ReviewTask) -> str:
        record = selectors.routing_decision(task=task)
        return render_to_string(
            "admin/approvals/routing_decision.html",
            {
                "record": record,
                "explain_url": record and admin_url(type(record), record.pk, obj=record),
            },
        )

    @admin.display(description="timeline")
    def timeline(self, task: ReviewTask) -> str:
        return render_to_string(
            "admin/workflows/timeline_table.html",
            {"events": selectors.task_timeline(task=task)},
        )

    # --- deciding from the task page ------------------------------------------------------------

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "<path:object_id>/work/",
                self.admin_site.admin_view(self.work_view),
                name=f"{opts.app_label}_{opts.model_name}_work",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = self.get_object(request, object_id)
        if task is not None and self.has_view_permission(request, task):
            opts = self.opts
            extra_context = {
                **(extra_context or {}),
                "offer": selectors.task_offer(
                    task=task, user=request.user, instance=self._instance(task)
                ),
                "work_url": reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_work", args=[task.pk]
                ),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def work_view(self, request, object_id):
        """One decision on one task, from its page's buttons: a POST, through the service."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        task = self.get_object(request, object_id)
        if task is None:
            self.message_user(request, "No such task in this queue.", messages.ERROR)
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            )
        here = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[task.pk])
        decision = request.POST.get("decision", "")
        text = request.POST.get("text", "").strip()
        actor = Actor.for_user(request.user)
        try:
            if decision == selectors.APPROVE:
                services.approve_task(task=task, actor=actor, comment=text)
            elif decision == selectors.REJECT:
                services.reject_task(task=task, actor=actor, reason=text)
            elif decision == selectors.REQUEST_INFO:
                services.request_information(task=task, actor=actor, message=text)
            elif decision == selectors.CLAIM:
                services.claim_task(task=task, actor=actor)
            elif decision == selectors.RELEASE:
                services.release_task(task=task, actor=actor)
            elif decision == selectors.REASSIGN:
                username = request.POST.get("assignee", "").strip()
                assignee = get_user_model().objects.filter(username=username, is_active=True)
                if not assignee.exists():
                    self.message_user(
                        request,
                        f"No active user {username!r} to hand it to: nothing was changed.",
                        messages.ERROR,
                    )
                    return HttpResponseRedirect(here)
                services.reassign_task(task=task, actor=actor, assignee=assignee.get())
            else:
                self.message_user(
                    request, "Choose a decision: nothing was changed.", messages.ERROR
                )
                return HttpResponseRedirect(here)
        except engine.WorkflowError as error:
            self.message_user(request, _refusal(error), messages.ERROR)
            return HttpResponseRedirect(here)
        self.message_user(request, self._what_happened(request, task, decision), messages.SUCCESS)
        # A decided task leaves the queues; the all-tasks page still shows it, decision and all.
        return HttpResponseRedirect(reverse("admin:approvals_reviewtask_change", args=[task.pk]))

    def _what_happened(self, request, task: ReviewTask, decision: str):
        instance = selectors.task_instance(task=task)
        name = link_or_text(instance, request=request)
        if decision in (selectors.APPROVE, selectors.REJECT):
            done = "approved" if decision == selectors.APPROVE else "rejected"
            return format_html("{} {}; {}.", name, done, where_it_stands(instance=instance))
        if decision == selectors.REQUEST_INFO:
            return format_html(
                "Information requested on {}: the requester is emailed, and the task is back in "
                "the queue when they answer.",
                name,
            )
        if decision == selectors.REASSIGN:
            task.refresh_from_db()
            done = f"handed to {task.assignee.get_username()}"
        elif decision == selectors.CLAIM:
            done = "claimed: it is yours"
        else:
            done = "released to its queue"
        return format_html("{} of {} {}.", task.step, name, done)

    # --- actions ------------------------------------------------------------------------------

    refusals = (engine.WorkflowError,)

    def refusal_message(self, obj: ReviewTask, error: Exception) -> str:
        return f"Task {obj.pk}: {error}"

    @admin.action(description="Claim selected tasks", permissions=["work"])
    def claim(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda t, a: services.claim_task(task=t, actor=a),
            summary=lambda n: f"Claimed {n} task(s).",
        )

    @admin.action(description="Release selected tasks back to their queue", permissions=["work"])
    def release(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda t, a: services.release_task(task=t, actor=a),
            summary=lambda n: f"Released {n} task(s).",
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
        self.act_on_each(
            request,
            queryset,
            lambda t, a: services.reassign_task(task=t, actor=a, assignee=assignee),
            summary=lambda n: f"Reassigned to {username} {n} task(s).",
        )

    @admin.action(description="Approve selected tasks", permissions=["work"])
    def approve(self, request, queryset):
        comment = request.POST.get("text", "").strip()
        self.act_on_each(
            request,
            queryset,
            lambda t, a: services.approve_task(task=t, actor=a, comment=comment),
            summary=lambda n: f"Approved {n} task(s).",
        )

    @admin.action(description="Reject selected tasks (reason required)", permissions=["work"])
    def reject(self, request, queryset):
        reason = request.POST.get("text", "").strip()
        if not reason:
            self.message_user(request, "A reason is required to reject.", messages.ERROR)
            return
        self.act_on_each(
            request,
            queryset,
            lambda t, a: services.reject_task(task=t, actor=a, reason=reason),
            summary=lambda n: f"Rejected {n} task(s).",
        )

    @admin.action(description="Request more information (message required)", permissions=["work"])
    def request_info(self, request, queryset):
        message = request.POST.get("text", "").strip()
        if not message:
            self.message_user(request, "Say what information is needed.", messages.ERROR)
            return
        self.act_on_each(
            request,
            queryset,
            lambda t, a: services.request_information(task=t, actor=a, message=message),
            summary=lambda n: f"Requested information on {n} task(s).",
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


def _refusal(error: Exception) -> str:
    """A service's refusal as a sentence that says nothing was changed."""
    text = str(error).rstrip(".")
    return f"{text[:1].upper()}{text[1:]}: nothing was changed."


def review_task_links(*, instance, request) -> list[str]:
    """An instance page's links to its review tasks, newest first: linked for a viewer whose
    queues hold the task, named only for the others."""
    tasks = list(selectors.tasks_for(instance=instance).order_by("-opened_at", "-id"))
    if not tasks:
        return []
    reachable: set[int] = set()
    if request is not None and admin.site.get_model_admin(ReviewTask).has_view_permission(request):
        reachable = set(
            selectors.visible_tasks(user=request.user)
            .filter(pk__in=[task.pk for task in tasks])
            .values_list("pk", flat=True)
        )
    shown = []
    for task in tasks:
        when = f"due {moment(task.due_at)}" if task.is_active else moment(task.decided_at)
        text = f"{task.step} task: {task.get_status_display().lower()}, {when}"
        if task.pk in reachable:
            url = reverse("admin:approvals_reviewtask_change", args=[task.pk])
            shown.append(format_html('<a href="{}">{}</a>', url, text))
        else:
            shown.append(text)
    return shown


INSTANCE_PAGE_LINKS.append(review_task_links)
