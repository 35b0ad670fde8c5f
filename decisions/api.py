"""REST API of the decision layer: dry-run evaluation and read access to decision records."""

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
from decisions.models import DecisionRecord
from opscore.api_errors import problem_responses


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


class EvaluateView(APIView):
    """POST {"inputs": {...}}: evaluate the published version; nothing is recorded."""

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


@extend_schema(responses={200: DecisionRecordSerializer(many=True), **problem_responses(401, 403)})
class DecisionRecordList(generics.ListAPIView):
    """Decision records, newest first; filter with ?rule_set=<slug>."""

    serializer_class = DecisionRecordSerializer

    def get_queryset(self):
        return selectors.decision_records(
            rule_set=self.request.query_params.get("rule_set") or None
        ).select_related("instance_type")


@extend_schema(responses={200: DecisionRecordSerializer, **problem_responses(401, 403, 404)})
class DecisionRecordDetail(generics.RetrieveAPIView):
    serializer_class = DecisionRecordSerializer

    def get_queryset(self):
        return selectors.decision_records().select_related("instance_type")


urlpatterns = [
    path("records/", DecisionRecordList.as_view(), name="decision-record-list"),
    path("records/<int:pk>", DecisionRecordDetail.as_view(), name="decision-record-detail"),
    path("<slug:rule_set>/evaluate", EvaluateView.as_view(), name="decision-evaluate"),
]
