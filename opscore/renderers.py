"""Renderers for the API; kept apart from api_errors so DRF settings can import them early."""

from rest_framework.renderers import JSONRenderer

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemJSONRenderer(JSONRenderer):
    """Lets a client that asks only for problem+json be answered rather than refused with 406."""

    media_type = PROBLEM_CONTENT_TYPE
