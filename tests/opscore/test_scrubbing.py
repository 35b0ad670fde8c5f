"""Free text is scrubbed of secrets and bounded before it is recorded."""

import pytest

from opscore.scrubbing import RECORDED_TEXT_MAX, REDACTED, bounded, recordable, scrub_secrets

API_KEY = "opk_1a2b3c4d_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ('{"authorization": "Api-Key ' + API_KEY + '"}', API_KEY),
        ("rejected token Bearer abcdefgh12345678 for /x", "abcdefgh12345678"),
        (f"key {API_KEY} is revoked", API_KEY),
        (f"signature did not match {WEBHOOK_SECRET}", WEBHOOK_SECRET),
        ("could not reach https://svc:hunter2secret@carrier.example/x", "hunter2secret"),
        ("GET /cb?api_key=s3cr3tvalue&x=1", "s3cr3tvalue"),
        ('{"password": "correct horse", "user": "a"}', "correct"),
        ("client_secret=abc123def456", "abc123def456"),
    ],
)
def test_secrets_are_replaced_by_a_marker(text, secret):
    scrubbed = scrub_secrets(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


def test_text_without_secrets_is_kept_as_it_was():
    text = "carrier refused with 422: postcode area ZZ is not served"
    assert scrub_secrets(text) == text
    assert recordable(text) == text


def test_long_text_is_bounded_and_marked():
    text = "x" * (RECORDED_TEXT_MAX * 5)
    kept = recordable(text)
    assert len(kept) == RECORDED_TEXT_MAX
    assert kept.endswith("[truncated]")
    assert bounded("short", limit=10) == "short"


def test_a_secret_at_the_bound_is_scrubbed_before_the_cut():
    text = "e" * 990 + " Bearer " + "t" * 40
    kept = recordable(text)
    assert "tttttttt" not in kept


def test_only_the_credential_is_redacted_and_the_rest_of_the_line_stays():
    scrubbed = scrub_secrets("sent Authorization: Bearer abcdefgh12345678 to the carrier, got 401")
    assert scrubbed == f"sent Authorization: Bearer {REDACTED} to the carrier, got 401"
