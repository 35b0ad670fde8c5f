"""REST API of the decision layer: dry-run evaluation and read access to decision records.

Sessions only (no view names a key scope). Evaluating needs `decisions.view_ruleset` (it shows
what the rules answer); records need `decisions.view_decisionrecord`, and a record made for a
workflow instance is shown only to those who may view that workflow's instances.
"""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from decisions import selectors, services
from decisions.errors import (
    DecisionError,
    InvalidInput,
    MissingInput,
    NoPublishedVersion,
    UnknownRuleSet,
)
from decisions.models import DecisionRecord, RuleSet
from opscore.api_errors import problem_responses
from opscore.api_permissions import ReadByPermission
from workflows.selectors import visibility_for_user


class NoPublishedVersionConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "no_published_version"


class EvaluationRefused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "evaluation_refused"


class EvaluateRequest(serializers.Serializer):
    inputs = serializers.DictField(help_text="The rule set's input fields and their values.")


class DecisionRecordSerializer(serializers.ModelSerializer):
    rule_set = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    instance_type = serializers.SerializerMethodField()

    class Meta:
        model = DecisionRecord
        fields = [
            "id",
            "rule_set",
            "version",
            "inputs",
            "outputs",
            "matched_rules",
            "duration_us",
            "instance_type",
            "instance_id",
            "step",
            "created_at",
        ]
        read_only_fields = fields

    def get_instance_type(self, record: DecisionRecord) -> str | None:
        if record.instance_type_id is None:
            return None
        return f"{record.instance_type.app_label}.{record.instance_type.model}"


class EvaluationSerializer(serializers.Serializer):
    rule_set = serializers.CharField()
    version = serializers.IntegerField()
    outputs = serializers.DictField()
    matched_rules = serializers.ListField(child=serializers.DictField())
    duration_us = serializers.IntegerField()
    recorded = serializers.BooleanField()


class EvaluateView(ReadByPermission, APIView):
    """POST {"inputs": {...}}: evaluate the published version; nothing is recorded."""

    permission_model = RuleSet

    @extend_schema(
        operation_id="decisions_evaluate",
        request=EvaluateRequest,
        responses={
            200: EvaluationSerializer,
            **problem_responses(
                400,
                401,
                403,
                404,
                409,
                422,
                d400="Missing input or an input of the wrong type.",
                d403="A session without decisions.view_ruleset, or any API key.",
                d404="Unknown rule set.",
                d409="The rule set has no published version.",
                d422="Evaluation refused (no matching row, a failing output expression).",
            ),
        },
    )
    def post(self, request, rule_set: str):
        payload = EvaluateRequest(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            version, evaluation = services.evaluate_ruleset(
                slug=rule_set, inputs=payload.validated_data["inputs"]
            )
        except UnknownRuleSet as error:
            raise NotFound(str(error)) from error
        except NoPublishedVersion as error:
            raise NoPublishedVersionConflict(str(error)) from error
        except (MissingInput, InvalidInput) as error:
            raise ValidationError({"inputs": [str(error)]}) from error
        except DecisionError as error:
            raise EvaluationRefused(str(error)) from error
        return Response(
            {
                "rule_set": rule_set,
                "version": version.number,
                "outputs": evaluation.outputs,
                "matched_rules": evaluation.matched_rules,
                "duration_us": evaluation.duration_us,
                "recorded": False,
            }
        )


RECORD_403 = "A session without decisions.view_decisionrecord, or any API key."


class DecisionRecordReadView(ReadByPermission):
    permission_model = DecisionRecord

    def permission_models_for(self, record):
        instance_model = record.instance_type.model_class() if record.instance_type_id else None
        return [DecisionRecord, *([instance_model] if instance_model else [])]

    def records(self, **filters):
        return selectors.decision_records(
            visibility=visibility_for_user(user=self.request.user), **filters
        ).select_related("instance_type")


@extend_schema(
    responses={
        200: DecisionRecordSerializer(many=True),
        **problem_responses(401, 403, d403=RECORD_403),
    }
)
class DecisionRecordList(DecisionRecordReadView, generics.ListAPIView):
    """Decision records, newest first; filter with ?rule_set=<slug>.

    Records made for instances of a workflow the caller may not view are left out.
    """

    serializer_class = DecisionRecordSerializer

    def get_queryset(self):
        return self.records(rule_set=self.request.query_params.get("rule_set") or None)


@extend_schema(
    responses={200: DecisionRecordSerializer, **problem_responses(401, 403, 404, d403=RECORD_403)}
)
class DecisionRecordDetail(DecisionRecordReadView, generics.RetrieveAPIView):
    """One decision record; 404 for one made for an instance the caller may not view."""

    serializer_class = DecisionRecordSerializer

    def get_queryset(self):
        return self.records()


urlpatterns = [
    path("records/", DecisionRecordList.as_view(), name="decision-record-list"),
    path("records/<int:pk>", DecisionRecordDetail.as_view(), name="decision-record-detail"),
    path("<slug:rule_set>/evaluate", EvaluateView.as_view(), name="decision-evaluate"),
]
