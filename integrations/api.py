"""REST edge of the trigger layer: event ingestion, signed webhooks, inbound event reads.

Thin: each view checks the request's shape, calls one service, renders its answer. Refusals
are problem details (opscore.api_errors) and are recorded as rejections.
"""

from __future__ import annotations

import ipaddress
import time

from django.core.exceptions import RequestDataTooBig
from django.http import UnreadablePostError
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import selectors, services
from integrations.authentication import KEYWORD
from integrations.models import ApiKey, Channel, InboundEvent, Scope
from opscore.api_errors import Problem, ProblemSerializer, problem_from, problem_responses
from opscore.api_permissions import ReadByPermission
from opscore.metrics import (
    INGEST_ACCEPTED,
    INGEST_LATENCY,
    INGEST_REPLAYED,
    INGEST_REQUESTS,
)
from opscore.pagination import NewestFirst
from opscore.throttling import WebhookThrottle
from privacy.serializers import RevealedJSONField

REPLAY_HEADER = "Idempotent-Replayed"
WEBHOOK_PREFIX = "/api/v1/hooks/"


class EventEnvelopeSerializer(serializers.Serializer):
    """Documents the body; validation itself is the ingestion service's (JSON Schema)."""

    type = serializers.CharField(max_length=100, help_text="A registered event type.")
    source = serializers.CharField(
        max_length=100, help_text="Who says so; (source, Idempotency-Key) is unique."
    )
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone offset.")
    correlation_key = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        help_text="Start: the new instance's key. Signal: finds the instance (required).",
    )
    payload = serializers.DictField(help_text="Validated against the event type's JSON Schema.")


class InstanceSummarySerializer(serializers.Serializer):
    workflow = serializers.CharField()
    id = serializers.IntegerField()
    correlation_key = serializers.CharField()
    state = serializers.CharField()
    version = serializers.IntegerField()


class IngestResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The inbound event's id.")
    type = serializers.CharField()
    source = serializers.CharField()
    idempotency_key = serializers.CharField()
    status = serializers.ChoiceField(choices=["routed", "stored"])
    received_at = serializers.DateTimeField()
    instance = InstanceSummarySerializer(allow_null=True, help_text="The instance reached.")
    transition = serializers.CharField(allow_null=True)


class InboundEventSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    payload = RevealedJSONField(read_only=True)

    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "received_at",
            "channel",
            "source",
            "idempotency_key",
            "type",
            "occurred_at",
            "correlation_key",
            "payload",
            "status",
            "integration",
            "actor_ref",
            "workflow",
            "instance_id",
            "transition",
            "response_status",
            "redelivery_of",
        ]
        read_only_fields = fields


def _ingest_response(result: services.IngestResult, *, channel: str) -> Response:
    # The service's transaction has committed by now: count what it did.
    (INGEST_REPLAYED if result.replayed else INGEST_ACCEPTED).labels(channel=channel).inc()
    headers = {REPLAY_HEADER: "true"} if result.replayed else {}
    return Response(result.body, status=result.status, headers=headers)


def client_ip(request) -> str | None:
    """The peer address. Not X-Forwarded-For: a caller could write anything there."""
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return None


def _is_identified(request) -> bool:
    user = getattr(request, "_user", None)  # set once DRF tried to authenticate
    return bool(user is not None and user.is_authenticated)


class RecordsRejections:
    """Mixin: refusals raised before the service ran (auth, media type) are recorded too."""

    rejection_channel: str = Channel.API

    def dispatch(self, request, *args, **kwargs):
        started = time.monotonic()
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            INGEST_REQUESTS.labels(channel=self.rejection_channel).inc()
            INGEST_LATENCY.labels(channel=self.rejection_channel).observe(
                time.monotonic() - started
            )

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.APIException) and not getattr(exc, "recorded", False):
            request = self.request
            auth = getattr(request, "_auth", None)
            services.record_rejection(
                channel=self.rejection_channel,
                problem=problem_from(exc),
                integration=auth.integration if isinstance(auth, ApiKey) else None,
                idempotency_key=request.headers.get("Idempotency-Key", ""),
                client_ip=client_ip(request),
                authenticated=_is_identified(request),
            )
        return super().handle_exception(exc)


def record_edge_refusal(sender, *, request, problem: Problem, **kwargs) -> None:
    """Receiver of opscore.middleware.api_request_refused: the refusal becomes a Rejection.

    The middleware runs before DRF authenticates, so a valid API key or a staff session is
    looked up here: only a caller who is neither aggregates.
    """
    header = request.headers.get("Authorization", "")
    keyword, _, key = header.partition(" ")
    api_key = None
    if keyword.lower() == KEYWORD.lower() and key.strip():
        api_key = selectors.active_api_key(key=key.strip())
    user = getattr(request, "user", None)
    try:
        excerpt = request.read(services.BODY_EXCERPT_BYTES)
    except UnreadablePostError:  # the client went away: record the refusal without it
        excerpt = b""
    services.record_rejection(
        channel=Channel.WEBHOOK if request.path.startswith(WEBHOOK_PREFIX) else Channel.API,
        problem=problem,
        integration=api_key.integration if api_key is not None else None,
        body=excerpt,
        idempotency_key=request.headers.get("Idempotency-Key")
        or request.headers.get("webhook-id", ""),
        client_ip=client_ip(request),
        authenticated=api_key is not None or bool(user is not None and user.is_authenticated),
    )


def _require_json(request) -> bytes:
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type not in {"application/json", ""} and not content_type.endswith("+json"):
        raise Problem(
            status=415,
            code="unsupported_media_type",
            detail=f"send JSON (Content-Type: application/json), not {content_type!r}",
        )
    try:
        return request.body
    except RequestDataTooBig as error:
        raise Problem(
            status=413,
            code="body_too_large",
            title="Request body too large",
            detail=str(error),
        ) from error


class EventsView(RecordsRejections, APIView):
    required_scope = Scope.EVENTS_WRITE
    parser_classes = []  # the service parses the raw body, so bad JSON is its precise 400

    @extend_schema(
        operation_id="events_create",
        summary="Send an event",
        description=(
            "Validate, deduplicate, store and route one event in one transaction. "
            "The same Idempotency-Key with the same body returns the first response again "
            "with `Idempotent-Replayed: true`; with a different body, 422; while the first "
            "request is still being processed, 409. Keys are kept with their inbound event "
            "(never purged, so at least 24 hours)."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Unique per event from this source, e.g. a UUID (max 255).",
            )
        ],
        request=EventEnvelopeSerializer,
        responses={
            201: OpenApiResponse(
                IngestResponseSerializer,
                description="Accepted (or a replay of the first response).",
            ),
            **problem_responses(
                400,
                401,
                403,
                409,
                413,
                415,
                422,
                d400="Bad or unacceptable JSON (NUL, unpaired surrogate, non-finite number, "
                "huge integer, nesting too deep), invalid envelope (impossible date, control "
                "character in an identifier), unknown event type, payload schema violation, "
                "missing Idempotency-Key or correlation_key.",
                d403="The key lacks events:write or may not send this event type "
                "(a staff session: lacks integrations.send_event); the body's source is not "
                "the key's integration (source_mismatch); or the bound transition is not one "
                "this caller may fire (transition_not_permitted).",
                d409="A request with this key is still in flight (Retry-After), or the "
                "correlation key is taken.",
                d415="The body is not JSON.",
                d422="Key reused with a different body, no instance to signal, or the "
                "instance cannot take the transition.",
            ),
        },
        examples=[
            OpenApiExample(
                "order.received",
                request_only=True,
                value={
                    "type": "order.received",
                    "source": "shop",
                    "occurred_at": "2026-11-25T12:00:00Z",
                    "correlation_key": "SO-1001",
                    "payload": {
                        "order_id": "SO-1001",
                        "customer": "ACME",
                        "postcode": "AB1 2CD",
                        "weight_kg": 2.5,
                        "value": 120,
                    },
                },
            )
        ],
    )
    def post(self, request):
        body = _require_json(request)
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        if api_key is None and not request.user.is_staff:
            raise exceptions.PermissionDenied("only staff may send events with a session")
        caller = (
            services.Caller.for_api_key(api_key)
            if api_key is not None
            else services.Caller.for_staff(request.user)
        )
        result = services.ingest_event(
            body=body,
            idempotency_key=request.headers.get("Idempotency-Key"),
            caller=caller,
            client_ip=client_ip(request),
        )
        return _ingest_response(result, channel=self.rejection_channel)


class BatchItemSerializer(serializers.Serializer):
    idempotency_key = serializers.CharField(
        max_length=255, help_text="As the single endpoint's Idempotency-Key header, per event."
    )
    event = EventEnvelopeSerializer()


class BatchRequestSerializer(serializers.Serializer):
    events = BatchItemSerializer(many=True, help_text="1 to OPSCORE_MAX_BATCH_EVENTS (500).")


class BatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in `events`.")
    status = serializers.IntegerField(help_text="What the single endpoint would have answered.")
    replayed = serializers.BooleanField(
        required=False, help_text="An earlier answer for this key, as `Idempotent-Replayed`."
    )
    body = IngestResponseSerializer(required=False, help_text="When accepted or replayed.")
    problem = ProblemSerializer(required=False, help_text="When refused.")


class BatchResponseSerializer(serializers.Serializer):
    results = BatchItemResultSerializer(many=True)
    accepted = serializers.IntegerField()
    replayed = serializers.IntegerField()
    refused = serializers.IntegerField()


class EventsBatchView(RecordsRejections, APIView):
    required_scope = Scope.EVENTS_WRITE
    parser_classes = []

    @extend_schema(
        operation_id="events_batch_create",
        summary="Send many events",
        description=(
            "Up to OPSCORE_MAX_BATCH_EVENTS (default 500) events, each with its own "
            "idempotency key and answered as `POST /api/v1/events` would answer it alone: "
            "201 with the inbound event, a replay of the first answer, or problem details "
            "(recorded as a rejection). Per-item semantics: a refused item is rolled back "
            "alone and never takes the others with it; the accepted items commit together. "
            "The answer is 207 with one result per item, in request order. Only a body that "
            "cannot be read as a batch (bad JSON, NaN, a NUL byte, runaway nesting, not "
            '`{"events": [...]}`, too many items, too large) is refused whole.'
        ),
        request=BatchRequestSerializer,
        responses={
            207: OpenApiResponse(BatchResponseSerializer, description="One result per item."),
            **problem_responses(
                400,
                401,
                403,
                413,
                415,
                d400="The body is not a readable batch: bad or unacceptable JSON, or not "
                '`{"events": [...]}` with at least one item.',
                d403="The key lacks events:write (a staff session: is not staff).",
                d413="More than OPSCORE_MAX_BATCH_EVENTS items, or a body over "
                "OPSCORE_MAX_REQUEST_BYTES.",
                d415="The body is not JSON.",
            ),
        },
    )
    def post(self, request):
        body = _require_json(request)
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        if api_key is None and not request.user.is_staff:
            raise exceptions.PermissionDenied("only staff may send events with a session")
        caller = (
            services.Caller.for_api_key(api_key)
            if api_key is not None
            else services.Caller.for_staff(request.user)
        )
        outcome = services.ingest_batch(body=body, caller=caller, client_ip=client_ip(request))
        # Committed: count what each item did, as the single endpoint does.
        for result in outcome.accepted:
            counter = INGEST_REPLAYED if result.replayed else INGEST_ACCEPTED
            counter.labels(channel=self.rejection_channel).inc()
        return Response(outcome.body(), status=207)


class WebhookView(RecordsRejections, APIView):
    """Standard Webhooks deliveries; the signature is the authentication."""

    rejection_channel = Channel.WEBHOOK
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookThrottle]
    parser_classes = []

    @extend_schema(
        operation_id="hooks_create",
        summary="Receive a signed webhook",
        description=(
            "Standard Webhooks: `webhook-id`, `webhook-timestamp` (within 5 minutes) and "
            "`webhook-signature` (v1 HMAC-SHA256 by any active secret of the source). Body "
            "`{type, timestamp, data}`; `data` is the payload and `webhook-id` the "
            "idempotency key."
        ),
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ],
        request=OpenApiTypes.OBJECT,
        responses={
            201: OpenApiResponse(IngestResponseSerializer, description="Accepted or replayed."),
            **problem_responses(
                400,
                401,
                403,
                404,
                409,
                413,
                415,
                422,
                d401="Missing, malformed, expired, future-dated or non-matching signature.",
                d404="Unknown webhook source.",
            ),
        },
    )
    def post(self, request, source: str):
        result = services.ingest_webhook(
            source_name=source,
            body=_require_json(request),
            headers=dict(request.headers),
            client_ip=client_ip(request),
        )
        return _ingest_response(result, channel=self.rejection_channel)


class InboundEventFilter(serializers.Serializer):
    type = serializers.CharField(required=False, max_length=100)
    source = serializers.CharField(required=False, max_length=100)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)


INBOUND_403 = (
    "A session without integrations.view_inboundevent, or an API key without inbound:read."
)


class InboundEventList(ReadByPermission, generics.ListAPIView):
    """Inbound events, newest first. An API key sees its own integration's events only."""

    required_scope = Scope.INBOUND_READ
    permission_model = InboundEvent
    serializer_class = InboundEventSerializer
    pagination_class = NewestFirst
    newest_first_by = "received_at"

    def get_queryset(self):
        query = InboundEventFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        auth = self.request.auth
        return selectors.inbound_events(
            **query.validated_data,
            integration_id=auth.integration_id if isinstance(auth, ApiKey) else None,
        ).select_related("integration")

    @extend_schema(
        parameters=[InboundEventFilter],
        responses={
            200: InboundEventSerializer(many=True),
            **problem_responses(400, 401, 403, 404, d403=INBOUND_403),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InboundEventDetail(ReadByPermission, generics.RetrieveAPIView):
    """One inbound event; 404 for another integration's, to a key."""

    required_scope = Scope.INBOUND_READ
    permission_model = InboundEvent
    serializer_class = InboundEventSerializer

    def get_queryset(self):
        auth = self.request.auth
        return selectors.inbound_events(
            integration_id=auth.integration_id if isinstance(auth, ApiKey) else None
        ).select_related("integration")

    @extend_schema(
        responses={
            200: InboundEventSerializer,
            **problem_responses(401, 403, 404, d403=INBOUND_403),
        }
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


urlpatterns = [
    path("events", EventsView.as_view(), name="events"),
    path("events:batch", EventsBatchView.as_view(), name="events-batch"),
    path("hooks/<slug:source>/", WebhookView.as_view(), name="webhook"),
    path("inbound-events/", InboundEventList.as_view(), name="inbound-event-list"),
    path("inbound-events/<uuid:pk>", InboundEventDetail.as_view(), name="inbound-event-detail"),
]
