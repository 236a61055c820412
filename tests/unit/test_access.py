"""The one access helper every route uses."""

import pytest
from pydantic import SecretStr

from agent_core.access import bearer_token, is_loopback_host, token_matches


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer abc ", "abc"), ("Basic abc", None), ("Bearer", None), (None, None), ("abc", None),
])
def test_bearer_token(header, token):
    assert bearer_token(header) == token


def test_token_matches_only_the_whole_token():
    assert token_matches("s3cret", SecretStr("s3cret")) and token_matches("s3cret", "s3cret")
    assert not token_matches("s3cre", SecretStr("s3cret")) and not token_matches(None, "s3cret")


@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("192.0.2.7", False), ("example.com", False),
])
def test_is_loopback_host(host, local):
    assert is_loopback_host(host) is local
