import pytest

from agent_core.storage import Database
from agent_core.storage.nonces import UsedNonces
from telephony import twiml
from telephony.stream_token import StreamTokenError, StreamTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_token_is_single_use_bound_to_its_call_and_expires():
    clock = Clock()
    tokens = StreamTokens(b"k" * 32, ttl_s=30, clock=clock)
    token = tokens.issue("CA1")
    with pytest.raises(StreamTokenError, match="does not match"):
        await tokens.redeem(token, "CA2")
    await tokens.redeem(token, "CA1")
    with pytest.raises(StreamTokenError, match="already used"):
        await tokens.redeem(token, "CA1")
    late = tokens.issue("CA3")
    clock.now += 31
    with pytest.raises(StreamTokenError, match="expired"):
        await tokens.redeem(late, "CA3")


async def test_used_nonces_are_forgotten_once_expired_but_never_while_valid():
    clock = Clock()
    tokens = StreamTokens(b"k" * 32, ttl_s=30, clock=clock)
    first = [tokens.issue(f"CA{i}") for i in range(50)]
    for i, token in enumerate(first):
        await tokens.redeem(token, f"CA{i}")
    clock.now += 29  # all still valid: each is refused a second time
    for i, token in enumerate(first):
        with pytest.raises(StreamTokenError, match="already used"):
            await tokens.redeem(token, f"CA{i}")
    clock.now += 31  # all expired: the memory lets them go
    await tokens.redeem(tokens.issue("CA-new"), "CA-new")
    assert len(tokens._used) == 1


@pytest.mark.parametrize("bad", [None, "", "v1", "v2.1.2.3", "v1.notanumber.n.s", "v1.1.n.s.extra"])
async def test_malformed_tokens_are_refused(bad):
    with pytest.raises(StreamTokenError):
        await StreamTokens(b"k" * 32).redeem(bad, "CA1")


async def test_a_token_from_another_secret_is_forged():
    token = StreamTokens(b"a" * 32).issue("CA1")
    with pytest.raises(StreamTokenError, match="does not match"):
        await StreamTokens(b"b" * 32).redeem(token, "CA1")


async def test_extending_the_expiry_breaks_the_signature():
    tokens = StreamTokens(b"k" * 32, ttl_s=1)
    version, expiry, nonce, signature = tokens.issue("CA1").split(".")
    with pytest.raises(StreamTokenError, match="does not match"):
        await tokens.redeem(f"{version}.{int(expiry) + 3600}.{nonce}.{signature}", "CA1")


async def test_a_token_used_in_one_process_is_refused_in_every_other(database_url):
    """Two containers of one deployment: same secret, same database, separate memories."""
    db = Database(database_url)
    await db.migrate()
    used = UsedNonces(db)
    first, second = (StreamTokens(b"k" * 32, first_use=used.first_use) for _ in range(2))
    token = first.issue("CA1")
    await first.redeem(token, "CA1")
    with pytest.raises(StreamTokenError, match="already used"):
        await second.redeem(token, "CA1")
    await db.close()


async def test_without_its_store_a_token_is_still_checked_in_the_process():
    async def unreachable(nonce: str, expiry: float) -> bool:
        raise ConnectionRefusedError("database down")

    tokens = StreamTokens(b"k" * 32, first_use=unreachable)
    token = tokens.issue("CA1")
    await tokens.redeem(token, "CA1")  # the caller still gets through
    with pytest.raises(StreamTokenError, match="already used"):
        await tokens.redeem(token, "CA1")


def test_connect_stream_twiml_is_built_by_the_sdk():
    xml = twiml.connect_stream("wss://parley.example.com/twilio/media", {"token": "t&<>", "from": "+1"})
    assert xml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://parley.example.com/twilio/media">'
        '<Parameter name="token" value="t&amp;&lt;&gt;" /><Parameter name="from" value="+1" />'
        "</Stream></Connect></Response>"
    )
    with pytest.raises(ValueError, match="query string"):
        twiml.connect_stream("wss://x/twilio/media?token=1", {})


def test_stream_url_follows_the_public_scheme():
    assert twiml.stream_url_for("https://p.example.com/") == "wss://p.example.com/twilio/media"
    assert twiml.stream_url_for("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/twilio/media"
    with pytest.raises(ValueError):
        twiml.stream_url_for("p.example.com")


def test_dial_twiml():
    assert "<Dial>+15550009999</Dial>" in twiml.dial("+15550009999")
