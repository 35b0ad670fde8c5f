"""Admin forms that edit a decision table as a table: columns, rows, hit policy; no JSON."""

from __future__ import annotations

from typing import Any

from django import forms

from decisions.tables import HIT_POLICIES, INPUT_KINDS, Column, DecisionTable, Row


class TableSettingsForm(forms.Form):
    hit_policy = forms.ChoiceField(choices=list(HIT_POLICIES.items()))
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="What changed and why."
    )


class ColumnForm(forms.Form):
    field = forms.CharField(max_length=100, required=False, help_text="Input/output field name")
    label = forms.CharField(max_length=200, required=False)


class InputColumnForm(ColumnForm):
    kind = forms.ChoiceField(
        choices=list(INPUT_KINDS.items()), initial="any", required=False, label="type"
    )


ColumnFormSet = forms.formset_factory(ColumnForm, extra=1, can_delete=True)
InputColumnFormSet = forms.formset_factory(InputColumnForm, extra=1, can_delete=True)


def input_cell(position: int) -> str:
    return f"in_{position}"


def output_cell(position: int) -> str:
    return f"out_{position}"


def rule_formset_class(*, inputs: int, outputs: int) -> type[forms.BaseFormSet]:
    """Rows with one cell per column position (the extra blank column included)."""
    fields: dict[str, Any] = {
        "rule_id": forms.CharField(max_length=100, required=False, label="id"),
        "description": forms.CharField(max_length=300, required=False),
    }
    for position in range(inputs):
        fields[input_cell(position)] = forms.CharField(
            required=False, widget=forms.TextInput(attrs={"size": 14, "placeholder": "any"})
        )
    for position in range(outputs):
        fields[output_cell(position)] = forms.CharField(
            required=False, widget=forms.TextInput(attrs={"size": 18})
        )
    row_form = type("RowForm", (forms.Form,), fields)
    return forms.formset_factory(row_form, extra=2, can_delete=True, can_order=True)


def _columns(formset: forms.BaseFormSet) -> list[tuple[int, Column]]:
    columns = []
    for position, form in enumerate(formset.forms):
        data = form.cleaned_data
        if not data or data.get("DELETE") or not data.get("field", "").strip():
            continue
        columns.append(
            (
                position,
                Column(
                    data["field"].strip(),
                    data.get("label", "").strip(),
                    data.get("kind") or "any",
                ),
            )
        )
    return columns


def table_from_forms(
    *,
    settings_form: TableSettingsForm,
    inputs: forms.BaseFormSet,
    outputs: forms.BaseFormSet,
    rules: forms.BaseFormSet,
) -> DecisionTable:
    """The table the bound, valid forms describe, rows in the order the editor gave them."""
    input_columns = _columns(inputs)
    output_columns = _columns(outputs)
    rows = []
    used_ids: set[str] = set()
    for form in rules.ordered_forms if rules.can_order else rules.forms:
        data = form.cleaned_data
        if not data or data.get("DELETE"):
            continue
        if not any(str(v).strip() for k, v in data.items() if k not in ("ORDER", "DELETE") and v):
            continue  # a blank spare row
        rule_id = data.get("rule_id", "").strip()
        if not rule_id:
            rule_id = next(f"r{n}" for n in range(1, 10_000) if f"r{n}" not in used_ids)
        used_ids.add(rule_id)
        rows.append(
            Row(
                id=rule_id,
                description=data.get("description", "").strip(),
                inputs={c.field: data.get(input_cell(p), "").strip() for p, c in input_columns},
                outputs={c.field: data.get(output_cell(p), "").strip() for p, c in output_columns},
            )
        )
    return DecisionTable(
        hit_policy=settings_form.cleaned_data["hit_policy"],
        inputs=tuple(c for _, c in input_columns),
        outputs=tuple(c for _, c in output_columns),
        rows=tuple(rows),
    )


def initial_for(table: DecisionTable) -> dict[str, Any]:
    rows = []
    for order, row in enumerate(table.rows, start=1):
        initial = {"rule_id": row.id, "description": row.description, "ORDER": order}
        for position, column in enumerate(table.inputs):
            initial[input_cell(position)] = row.inputs.get(column.field, "")
        for position, column in enumerate(table.outputs):
            initial[output_cell(position)] = row.outputs.get(column.field, "")
        rows.append(initial)
    return {
        "settings": {"hit_policy": table.hit_policy},
        "inputs": [{"field": c.field, "label": c.label, "kind": c.kind} for c in table.inputs],
        "outputs": [{"field": c.field, "label": c.label} for c in table.outputs],
        "rules": rows,
    }
