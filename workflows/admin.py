from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.template.loader import render_to_string
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from audit.selectors import instance_timeline
from opscore.actors import Actor
from opscore.admin_base import (
    ExplainRefusedActionsMixin,
    HistoryReadOnlyAdmin,
    ReadOnlyAdminMixin,
)
from opscore.admin_links import admin_url, current_request, link_or_text
from opscore.moments import moment
from privacy import sealing
from workflows import engine, registry, services
from workflows.context_display import (
    Section,
    Shown,
    render_business_context,
    shown_value,
    sort_expression,
)
from workflows.diagram_svg import state_diagram_svg
from workflows.models import Execution, Timer
from workflows.models.execution import ExecutionStatus
from workflows.selectors import executions_for, path_taken

# Higher layers add the pages an instance page links to (approvals: the instance's review
# tasks), each a callable (instance=, request=) returning links or plain names to show.
INSTANCE_PAGE_LINKS: list[Callable[..., list[str]]] = []


class RevealingChangeList(ChangeList):
    """Reveals the sealed values of the page's contexts with one key query, for the business
    columns; the rows themselves keep their sealed context."""

    def get_results(self, request):
        super().get_results(request)
        revealer = sealing.Revealer().prefetch(row.context for row in self.result_list)
        for row in self.result_list:
            row.revealed_context = revealer.reveal(row.context)


def business_column(shown: Shown) -> Callable:
    def column(instance) -> str:
        context = getattr(instance, "revealed_context", None)
        if context is None:
            context = sealing.reveal(instance.context)
        return shown_value(shown, context)

    column.__name__ = "context_" + shown.path.replace(".", "_")
    return admin.display(description=shown.label, ordering=sort_expression(shown))(column)


class WorkflowInstanceAdmin(ReadOnlyAdminMixin, HistoryReadOnlyAdmin):
    """State changes only through the engine: the page reads, its actions call services.

    No change permission even for those who hold `change_<model>`: saving the form would
    write back the row as it was read, state included, over a transition that committed in
    between, with no event.
    """

    list_display = ["correlation_key", "state", "version", "started_by", "created_at", "updated_at"]
    list_filter = ["state", "created_at"]
    search_fields = ["=correlation_key"]
    list_select_related = ["started_by"]
    show_full_result_count = False
    date_hierarchy = "created_at"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "correlation_key",
                    "state",
                    "version",
                    "started_by_name",
                    "created_when",
                    "updated_when",
                    "related_pages",
                ]
            },
        ),
        ("Where it is in the process", {"fields": ["diagram"]}),
        ("Context", {"fields": ["context_pretty"]}),
        ("Executions", {"fields": ["executions"]}),
        ("Timeline", {"fields": ["timeline"]}),
    ]

    def get_changelist(self, request, **kwargs):
        return RevealingChangeList

    @cached_property
    def business_columns(self) -> list[Callable]:
        # Built once: admin finds a sortable column by identity in get_sortable_by's list.
        return [
            business_column(shown)
            for section in self.context_sections
            for shown in section.fields
            if shown.listed
        ]

    def get_list_display(self, request):
        # The process's business columns (the context fields it declares `listed`) between
        # the instance's key and state and its age.
        return [
            "correlation_key",
            "state",
            *self.business_columns,
            "age",
            "started_by",
            "updated_at",
        ]

    @admin.display(description="age", ordering="created_at")
    def age(self, instance):
        return timesince(instance.created_at)

    readonly_fields = [
        "correlation_key",
        "state",
        "version",
        "started_by_name",
        "created_when",
        "updated_when",
        "related_pages",
        "diagram",
        "context_pretty",
        "executions",
        "timeline",
    ]
    actions = ["cancel_selected"]

    # What the process's context holds, as its business reads it (workflows.context_display);
    # anything undeclared still shows, under "Other".
    context_sections: tuple[Section, ...] = ()

    @admin.display(description="started by")
    def started_by_name(self, instance):
        return link_or_text(instance.started_by) if instance.started_by_id else "the system"

    @admin.display(description="created")
    def created_when(self, instance):
        return moment(instance.created_at)

    @admin.display(description="last changed")
    def updated_when(self, instance):
        return moment(instance.updated_at)

    @admin.display(description="see also")
    def related_pages(self, instance):
        links = [
            link
            for contribute in INSTANCE_PAGE_LINKS
            for link in contribute(instance=instance, request=current_request())
        ]
        if not links:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            "{}",
            ((link,) for link in links),
        )

    @admin.display(description="state diagram")
    def diagram(self, instance):
        svg = state_diagram_svg(
            registry.for_model(type(instance)),
            current=instance.state,
            taken=path_taken(instance=instance),
        )
        return format_html(
            '<div class="instance-diagram">{}</div><p class="help">Now in <strong>{}</strong>; '
            "the path it took is in green.</p>",
            mark_safe(svg),  # noqa: S308 - drawn from declared names, each escaped
            instance.get_state_display(),
        )

    @admin.display(description="context")
    def context_pretty(self, instance):
        return render_business_context(instance.context, self.context_sections)

    @admin.display(description="executions")
    def executions(self, instance):
        executions = list(executions_for(instance=instance))
        for execution in executions:
            execution.page_url = admin_url(Execution, execution.pk, obj=execution)
        return render_to_string("admin/workflows/executions_table.html", {"executions": executions})

    @admin.display(description="timeline")
    def timeline(self, instance):
        events = list(instance_timeline(instance=instance))
        revealer = sealing.Revealer().prefetch(event.payload for event in events)
        for event in events:  # shown, never saved: the log keeps the sealed values
            event.payload = revealer.reveal(event.payload)
        return render_to_string("admin/workflows/timeline_table.html", {"events": events})

    def has_cancel_permission(self, request) -> bool:
        # The transition's own permission (cancel_order, cancel_invoice): `change` says nothing
        # about who may stop a workflow, and the engine would refuse the others anyway.
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.cancel_{opts.model_name}")

    @admin.action(description="Cancel selected instances", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        actor = Actor.for_user(request.user)
        cancelled = 0
        for instance in queryset:
            try:
                services.cancel_workflow(
                    instance=instance, actor=actor, reason=f"cancelled in admin by {actor.ref}"
                )
                cancelled += 1
            except engine.WorkflowError as error:
                self.message_user(request, str(error), messages.ERROR)
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} instance(s).", messages.SUCCESS)


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdminMixin, ExplainRefusedActionsMixin, admin.ModelAdmin):
    """Workers own execution rows; people look, and retry through the service."""

    list_display = [
        "idempotency_key",
        "step",
        "status",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "updated_at",
        "short_error",
    ]
    list_filter = ["status", "step"]
    # An exact request id finds every step a request (or a task) scheduled.
    search_fields = ["idempotency_key", "=request_id"]
    show_full_result_count = False
    readonly_fields = [f.name for f in Execution._meta.concrete_fields]
    actions = ["retry_selected"]

    @admin.display(description="last error")
    def short_error(self, execution):
        return execution.last_error[:80]

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("workflows.change_execution")

    @admin.action(
        description="Retry selected executions (same idempotency key)", permissions=["retry"]
    )
    def retry_selected(self, request, queryset):
        actor = Actor.for_user(request.user)
        retried = 0
        for execution in queryset.filter(status__in=[ExecutionStatus.DEAD, ExecutionStatus.FAILED]):
            try:
                services.retry_execution(execution=execution, actor=actor)
                retried += 1
            except engine.WorkflowError as error:
                self.message_user(request, str(error), messages.ERROR)
        skipped = queryset.count() - retried
        self.message_user(
            request,
            f"Queued {retried} execution(s) for retry; {skipped} left as they were.",
            messages.SUCCESS if retried else messages.WARNING,
        )


@admin.register(Timer)
class TimerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["step", "instance_type", "instance_id", "due_at", "fired_at", "outcome"]
    list_filter = ["step", "outcome"]
    show_full_result_count = False
    readonly_fields = [f.name for f in Timer._meta.concrete_fields]
