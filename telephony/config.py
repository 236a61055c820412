"""Twilio settings. Credentials use Twilio's own variable names."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TwilioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    account_sid: str | None = Field(None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "account_sid"))
    auth_token: SecretStr | None = Field(None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "auth_token"))
    # Caller ID for outbound calls: a number you own on Twilio.
    phone_number: str | None = Field(None, validation_alias=AliasChoices("TWILIO_PHONE_NUMBER", "phone_number"))
    # Checking X-Twilio-Signature may be switched off for local development only.
    validate_signatures: bool = Field(
        True, validation_alias=AliasChoices("PARLEY_TWILIO_VALIDATE_SIGNATURES", "validate_signatures")
    )
    # Where the transfer_call tool sends callers (E.164, e.g. +15551234567); unset = no transfers.
    transfer_to: str | None = Field(None, validation_alias=AliasChoices("PARLEY_TWILIO_TRANSFER_TO", "transfer_to"))
    # A stream token is good for this long after the webhook answered; Twilio connects within a second.
    stream_token_ttl_s: float = Field(
        60.0, validation_alias=AliasChoices("PARLEY_TWILIO_STREAM_TOKEN_TTL_S", "stream_token_ttl_s")
    )
    # Media frames larger than this are refused (20 ms of mu-law is 160 bytes; base64 ~216).
    max_message_bytes: int = 64 * 1024

    @property
    def has_credentials(self) -> bool:
        return bool(self.account_sid and self.auth_token)
