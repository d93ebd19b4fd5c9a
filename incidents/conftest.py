import pytest


@pytest.fixture(autouse=True)
def _closing_needs_no_review(settings):
    """These tests are about the incident workflow; the reviews app's close policy (a published
    review before a Critical or High incident closes) is tested in reviews/tests/test_close_policy.py."""
    settings.REVIEW_REQUIRED_SEVERITIES = []
