"""Admin for the decision layer: tables edited as tables, review and publish with the
backtest in view, version diffs, decision explanations and the override report."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.config_admin import ADMIN_CHANNEL, ConfigAuditedAdmin
from decisions import selectors, services
from decisions.errors import DecisionError
from decisions.forms import (
    ColumnFormSet,
    InputColumnFormSet,
    TableSettingsForm,
    initial_for,
    rule_formset_class,
    table_from_forms,
)
from decisions.models import (
    Backtest,
    DecisionRecord,
    Override,
    RuleSet,
    RuleSetVersion,
    VersionStatus,
)
from decisions.tables import DecisionTable, diff_tables, from_jdm
from opscore.actors import Actor
from opscore.admin_base import HistoryReadOnlyAdmin, ReadOnlyAdminMixin, ServiceActionsMixin
from opscore.admin_links import admin_url, current_request


def table_context(
    table: DecisionTable, *, matched: list[str] | None = None, inputs: dict | None = None
) -> dict[str, Any]:
    matched = matched or []
    return {
        "hit_policy": table.hit_policy,
        "inputs": [
            {
                "title": c.title,
                "field": c.field,
                "kind": c.kind,
                "value": (inputs or {}).get(c.field),
            }
            for c in table.inputs
        ],
        "outputs": [{"title": c.title, "field": c.field} for c in table.outputs],
        "show_values": inputs is not None,
        "rows": [
            {
                "number": number,
                "id": row.id,
                "description": row.description,
                "tests": [row.inputs.get(c.field, "") for c in table.inputs],
                "results": [row.outputs.get(c.field, "") for c in table.outputs],
                "matched": row.id in matched,
            }
            for number, row in enumerate(table.rows, start=1)
        ],
    }


def render_table(table: DecisionTable, **kwargs: Any) -> str:
    return render_to_string("admin/decisions/table.html", table_context(table, **kwargs))


@admin.register(RuleSet)
class RuleSetAdmin(ServiceActionsMixin, ConfigAuditedAdmin, HistoryReadOnlyAdmin):
    config_kind = services.CONFIG_KIND
    config_fields = ["slug", "name", "description"]
    list_display = ["slug", "name", "published", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["versions_table"]
    actions = ["new_draft", "retire_published", "roll_back"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "versions_table"] if obj else []

    def get_fields(self, request, obj=None):
        fields = ["slug", "name", "description"]
        return [*fields, "versions_table"] if obj else fields

    @admin.display(description="published version")
    def published(self, rule_set: RuleSet) -> str:
        version = rule_set.versions.filter(status=VersionStatus.PUBLISHED).first()
        return f"v{version.number}" if version else "— none —"

    @admin.display(description="versions")
    def versions_table(self, rule_set: RuleSet) -> str:
        return render_to_string(
            "admin/decisions/versions_table.html", {"versions": rule_set.versions.all()}
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.create_ruleset(
            slug=obj.slug,
            name=obj.name,
            description=obj.description,
            actor=Actor.for_user(request.user),
            channel=ADMIN_CHANNEL,
        )
        obj.pk = created.pk

    def config_history_objects(self, obj: RuleSet):
        return [obj, *obj.versions.all()]

    refusals = (DecisionError,)

    def has_author_permission(self, request) -> bool:
        return request.user.has_perm(services.AUTHOR_PERMISSION)

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm(services.PUBLISH_PERMISSION)

    @admin.action(
        description="Start a new draft from the published version", permissions=["author"]
    )
    def new_draft(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r, a: services.create_draft(rule_set=r, actor=a, channel=ADMIN_CHANNEL),
            done=lambda draft: f"Created {draft}.",
        )

    @admin.action(description="Retire the published version", permissions=["publish"])
    def retire_published(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r, a: services.retire_ruleset(rule_set=r, actor=a, channel=ADMIN_CHANNEL),
            done=lambda retired: f"Retired {retired}.",
        )

    @admin.action(
        description="Roll back to the previously published version", permissions=["publish"]
    )
    def roll_back(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r, a: services.rollback_ruleset(rule_set=r, actor=a, channel=ADMIN_CHANNEL),
            done=lambda live: f"Rolled back: {live} is live.",
        )


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(ServiceActionsMixin, ConfigAuditedAdmin, HistoryReadOnlyAdmin):
    # Only the note is edited through the form; every other change goes through a service.
    config_kind = services.CONFIG_KIND
    config_fields = ["note"]
    list_display = ["__str__", "rule_set", "number", "status", "created_by", "published_at"]
    list_filter = ["status", "rule_set"]
    list_select_related = ["rule_set", "created_by"]
    fields = [
        "rule_set",
        "number",
        "status",
        "note",
        "created_by",
        "submitted_by",
        "submitted_at",
        "published_by",
        "published_at",
        "retired_at",
        "links",
        "table",
        "backtest",
    ]
    readonly_fields = [f for f in fields if f != "note"]
    actions = ["submit_for_review", "return_to_draft", "run_backtest"]

    def has_add_permission(self, request):
        return False  # drafts start from a rule set ("Start a new draft")

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != VersionStatus.DRAFT:
            return self.fields
        return self.readonly_fields

    @admin.display(description="decision table")
    def table(self, version: RuleSetVersion) -> str:
        return render_table(from_jdm(version.content))

    @admin.display(description="latest backtest")
    def backtest(self, version: RuleSetVersion) -> str:
        return render_to_string(
            "admin/decisions/backtest.html",
            {"backtest": selectors.latest_backtest(version=version)},
        )

    @admin.display(description="")
    def links(self, version: RuleSetVersion) -> str:
        items = []
        viewer = current_request()
        may_author = viewer is not None and viewer.user.has_perm(services.AUTHOR_PERMISSION)
        if version.status == VersionStatus.DRAFT and may_author:
            items.append(("Edit table", "admin:decisions_rulesetversion_table"))
        if version.status == VersionStatus.IN_REVIEW:
            items.append(("Review and publish", "admin:decisions_rulesetversion_publish"))
        items.append(("Compare with the published version", "admin:decisions_rulesetversion_diff"))
        return format_html(
            " · ".join(["<a href='{}'>{}</a>"] * len(items)),
            *[
                value
                for label, name in items
                for value in (reverse(name, args=[version.pk]), label)
            ],
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        prefix = "decisions_rulesetversion"
        return [
            path("<int:pk>/table/", view(self.edit_table_view), name=f"{prefix}_table"),
            path("<int:pk>/publish/", view(self.publish_view), name=f"{prefix}_publish"),
            path("<int:pk>/diff/", view(self.diff_view), name=f"{prefix}_diff"),
            *super().get_urls(),
        ]

    def _version(
        self, request: HttpRequest, pk: int, *, permission: str | None = None
    ) -> RuleSetVersion:
        """The version, for someone who may view it and, when named, holds `permission`."""
        version = get_object_or_404(RuleSetVersion.objects.select_related("rule_set"), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        if permission is not None and not request.user.has_perm(permission):
            raise PermissionDenied(f"this needs the {permission} permission")
        return version

    def edit_table_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version(request, pk, permission=services.AUTHOR_PERMISSION)
        change_url = reverse("admin:decisions_rulesetversion_change", args=[version.pk])
        if version.status != VersionStatus.DRAFT:
            self.message_user(
                request, f"{version} is not a draft: it cannot change.", messages.ERROR
            )
            return HttpResponseRedirect(change_url)
        error = None
        if request.method == "POST":
            settings_form = TableSettingsForm(request.POST, prefix="settings")
            inputs = InputColumnFormSet(request.POST, prefix="inputs")
            outputs = ColumnFormSet(request.POST, prefix="outputs")
            rules_class = rule_formset_class(
                inputs=inputs.total_form_count(), outputs=outputs.total_form_count()
            )
            rules = rules_class(request.POST, prefix="rules")
            if all(f.is_valid() for f in (settings_form, inputs, outputs, rules)):
                table = table_from_forms(
                    settings_form=settings_form, inputs=inputs, outputs=outputs, rules=rules
                )
                try:
                    services.save_draft_table(
                        version=version,
                        table=table,
                        actor=Actor.for_user(request.user),
                        note=settings_form.cleaned_data["note"] or None,
                        channel=ADMIN_CHANNEL,
                    )
                except DecisionError as refusal:
                    error = str(refusal)
                else:
                    self.message_user(request, f"Saved the table of {version}.", messages.SUCCESS)
                    return HttpResponseRedirect(change_url)
            else:
                error = "Please correct the errors below."
        else:
            initial = initial_for(from_jdm(version.content))
            settings_form = TableSettingsForm(
                initial={**initial["settings"], "note": version.note}, prefix="settings"
            )
            inputs = InputColumnFormSet(initial=initial["inputs"], prefix="inputs")
            outputs = ColumnFormSet(initial=initial["outputs"], prefix="outputs")
            rules_class = rule_formset_class(
                inputs=inputs.total_form_count(), outputs=outputs.total_form_count()
            )
            rules = rules_class(initial=initial["rules"], prefix="rules")
        input_headers = [f["field"].value() or "(new input)" for f in inputs]
        output_headers = [f["field"].value() or "(new output)" for f in outputs]
        rows = [
            {
                "form": form,
                "tests": [form[f"in_{i}"] for i in range(len(input_headers))],
                "results": [form[f"out_{i}"] for i in range(len(output_headers))],
            }
            for form in rules
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Edit the table of {version}",
            "version": version,
            "error": error,
            "settings_form": settings_form,
            "inputs": inputs,
            "outputs": outputs,
            "rules": rules,
            "rows": rows,
            "input_headers": input_headers,
            "output_headers": output_headers,
        }
        return TemplateResponse(request, "admin/decisions/edit_table.html", context)

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        # Anyone who may view reads the review page; only a publisher may post to it.
        version = self._version(
            request,
            pk,
            permission=services.PUBLISH_PERMISSION if request.method == "POST" else None,
        )
        if request.method == "POST":
            try:
                services.publish_version(
                    version=version, actor=Actor.for_user(request.user), channel=ADMIN_CHANNEL
                )
            except DecisionError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(request, f"Published {version.rule_set} v{version.number}.")
                return HttpResponseRedirect(
                    reverse("admin:decisions_rulesetversion_change", args=[version.pk])
                )
        published = version.rule_set.versions.filter(status=VersionStatus.PUBLISHED).first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Publish {version.rule_set} v{version.number}?",
            "version": version,
            "published": published,
            "backtest": selectors.latest_backtest(version=version),
            "diff": diff_tables(from_jdm(published.content), from_jdm(version.content))
            if published
            else None,
            "table": render_table(from_jdm(version.content)),
            "in_review": version.status == VersionStatus.IN_REVIEW,
            "may_publish": request.user.has_perm(services.PUBLISH_PERMISSION),
        }
        return TemplateResponse(request, "admin/decisions/publish.html", context)

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = self._version(request, pk)
        against_pk = request.GET.get("against")
        if against_pk:
            other = get_object_or_404(RuleSetVersion, pk=against_pk, rule_set=version.rule_set)
        else:
            other = (
                version.rule_set.versions.filter(status=VersionStatus.PUBLISHED).first()
                or version.rule_set.versions.filter(number__lt=version.number).first()
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{version} compared with {other}" if other else f"{version}",
            "version": version,
            "other": other,
            "others": version.rule_set.versions.exclude(pk=version.pk),
            "diff": diff_tables(from_jdm(other.content), from_jdm(version.content))
            if other
            else None,
        }
        return TemplateResponse(request, "admin/decisions/diff.html", context)

    refusals = (DecisionError,)

    def has_submit_permission(self, request) -> bool:
        return request.user.has_perm(services.SUBMIT_PERMISSION)

    def has_return_permission(self, request) -> bool:
        return request.user.has_perm(services.AUTHOR_PERMISSION) or request.user.has_perm(
            services.PUBLISH_PERMISSION
        )

    def has_backtest_permission(self, request) -> bool:
        return request.user.has_perm(services.BACKTEST_PERMISSION)

    @admin.action(description="Submit for review (runs a backtest)", permissions=["submit"])
    def submit_for_review(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda v, a: services.submit_for_review(version=v, actor=a, channel=ADMIN_CHANNEL),
            done=lambda version: f"Submitted {version} for review.",
        )

    @admin.action(description="Send back to draft", permissions=["return"])
    def return_to_draft(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda v, a: services.return_to_draft(version=v, actor=a, channel=ADMIN_CHANNEL),
            done=lambda version: f"{version} is a draft again.",
        )

    @admin.action(description="Backtest against the last 1000 decisions", permissions=["backtest"])
    def run_backtest(self, request, queryset):
        def backtest(version, actor):
            # Not a configuration change: a backtest changes nothing about how work is done.
            services.run_backtest(version=version, actor=actor)
            return version

        self.act_on_each(request, queryset, backtest, done=lambda version: f"Backtested {version}.")


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    show_full_result_count = False


@admin.register(DecisionRecord)
class DecisionRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "rule_set", "version", "primary_rule_id", "step", "created_at"]
    list_filter = ["rule_set", "step"]
    list_select_related = ["rule_set", "version__rule_set"]
    date_hierarchy = "created_at"
    fields = [
        "rule_set",
        "version",
        "step",
        "instance_link",
        "created_at",
        "duration_us",
        "outputs_pretty",
        "reproduced",
        "explanation",
    ]
    readonly_fields = fields

    @admin.display(description="instance")
    def instance_link(self, record: DecisionRecord) -> str:
        if record.instance_type_id is None:
            return "—"
        text = f"{record.instance_type.model} #{record.instance_id}"
        model = record.instance_type.model_class()
        url = admin_url(model, record.instance_id) if model is not None else None
        return format_html("<a href='{}'>{}</a>", url, text) if url else text

    @admin.display(description="outputs")
    def outputs_pretty(self, record: DecisionRecord) -> str:
        return format_html("<pre>{}</pre>", json.dumps(record.outputs, indent=2, sort_keys=True))

    @admin.display(description="re-evaluated now")
    def reproduced(self, record: DecisionRecord) -> str:
        try:
            again = services.reevaluate_record(record=record)
        except DecisionError as error:
            return f"✘ re-evaluation failed: {error}"
        if again.outputs == record.outputs:
            return f"✔ same answer with {record.version}"
        return f"✘ different answer now: {json.dumps(again.outputs, sort_keys=True)}"

    @admin.display(description="explain: the inputs, and the row that matched")
    def explanation(self, record: DecisionRecord) -> str:
        return render_table(
            from_jdm(record.version.content),
            matched=[rule["id"] for rule in record.matched_rules],
            inputs=record.inputs,
        )


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = ["version", "window", "decisions_evaluated", "changed", "errors", "created_at"]
    list_select_related = ["version__rule_set"]
    fields = ["version", "window", "created_by", "created_at", "report"]
    readonly_fields = fields

    @admin.display(description="result")
    def report(self, backtest: Backtest) -> str:
        return render_to_string("admin/decisions/backtest.html", {"backtest": backtest})


@admin.register(Override)
class OverrideAdmin(ReadOnlyAdmin):
    list_display = ["rule_set", "rule_id", "recommended", "chosen", "actor_ref", "created_at"]
    list_filter = ["rule_set", "rule_id"]
    list_select_related = ["rule_set"]
    readonly_fields = [f.name for f in Override._meta.concrete_fields]

    def changelist_view(self, request, extra_context=None):
        report = [
            {
                "rule_set": rate,
                "rules": selectors.override_rates_by_rule(
                    rule_set=RuleSet.objects.get(slug=rate.rule_set)
                ),
            }
            for rate in selectors.override_rates_by_ruleset()
        ]
        return super().changelist_view(request, {**(extra_context or {}), "report": report})
