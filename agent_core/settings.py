"""Settings, one tree: defaults in config/parley.toml, then `.env`, then `PARLEY_*` env vars.

Nested fields use `__`: `PARLEY_LLM__BASE_URL=http://...`,
`PARLEY_SESSION__TURN__END_OF_TURN_SILENCE_MS=700`. Three sections keep the names their own
documentation uses: `twilio` (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER,
PARLEY_TWILIO_*), `discord` (DISCORD_TOKEN) and `deploy` (PARLEY_MODAL_*, agent_core/deploy_settings.py);
each is a settings class of its own that reads those names when the tree is built. Secrets (API keys,
tokens) are SecretStr fields, come only from the environment and are never printed: `secret_values`
finds them all for the log scrubber.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent_core.deploy_settings import ENV_PREFIX as DEPLOY_ENV_PREFIX
from agent_core.deploy_settings import DeploySettings
from agent_core.paths import config_dir
from agent_core.session_settings import SessionSettings


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "parley"


class SttSettings(BaseModel):
    # "local": embedded Whisper; "remote": a Parley STT service at `url` (Modal or `parley services serve`).
    backend: Literal["local", "remote"] = "local"
    url: str | None = None
    # Embedded Whisper: "base" (better) or "tiny.en" (faster, English only).
    model: Literal["base", "tiny.en"] = "base"
    language: str = "en"
    # Whisper's window for audio longer than a conversational turn (faster-whisper's 30 s).
    window_s: int = 30
    # True: a turn up to 20 s is encoded in a 20 s window, two thirds of the CPU and the latency,
    # but less sure on real speech (JFK's "ask not" read as "asked not" through the phone path;
    # stt/whisper_local.py, bench/stt_window.py). Off by default: accuracy first.
    short_windows: bool = False
    connect_timeout_s: float = 5.0
    # How long the final transcript may take once the speaker is done.
    read_timeout_s: float = 10.0


class LlmSettings(BaseModel):
    # "local": SmolLM2-135M in-process; "openai": any OpenAI-compatible server at base_url.
    backend: Literal["local", "openai"] = "local"
    base_url: str | None = None
    model: str = "SmolLM2-135M-Instruct"
    api_key: SecretStr | None = None
    # Small models drift at higher temperatures; replies are spoken, so keep them short.
    temperature: float = 0.2
    max_tokens: int = 60
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0


class TtsSettings(BaseModel):
    # "local": the embedded hibari voice (Apache-2.0); "piper": Piper, GPL-3.0, only with the
    # `parley[piper]` extra; "remote": a Parley TTS service at `url` (Modal or `parley services serve`).
    backend: Literal["local", "piper", "remote"] = "local"
    url: str | None = None
    # None: the backend's own default voice ("heart" for hibari, "joe" for Piper).
    voice: str | None = None
    speed: float = 1.0
    # The speech services' OpenAI voice names, explicit: {"alloy": "heart"} lets OpenAI clients keep
    # their voice name; a name neither a voice nor an alias is refused (400), never replaced.
    voice_aliases: dict[str, str] = {}
    connect_timeout_s: float = 5.0
    # How long the first (and each next) audio chunk may take.
    read_timeout_s: float = 10.0


class RecordingSettings(BaseModel):
    # A refused setting's error never repeats the input: it may hold the bucket's secret key.
    model_config = ConfigDict(hide_input_in_errors=True)

    # Phone calls are recorded by default (both sides, the agent as the caller heard it). Recording
    # a call may need the caller's consent where you operate: say so in the greeting, or turn it off
    # here, per number (number setting `record`), or per persona (`record = false`).
    phone: bool = True
    # Discord conversations and browser (Realtime) sessions keep their words (the record) but not
    # their audio unless turned on here or per persona (`record = true`).
    discord: bool = False
    web: bool = False
    # Where recordings go, as a URL: unset, the local `directory` (default: data_dir/recordings; on
    # Modal, the mounted Volume); `s3://bucket/prefix`, an S3-compatible bucket (boto3, the
    # `parley[s3]` extra); `file:///absolute/path`, a local directory. Other schemes stop the start.
    store: str | None = None
    directory: Path | None = None
    # The bucket's service: unset, AWS (region from s3_region or AWS_REGION); set for MinIO, R2,
    # Ceph, ... Without the key pair, boto3's own chain applies (AWS_* variables, instance roles).
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    # Recordings older than this are deleted (checked at start and every few hours); 0 keeps them.
    retention_days: float = 30.0

    def for_channel(self, channel: str) -> bool:
        """Whether a channel's conversations are recorded by default."""
        return {"phone": self.phone, "discord": self.discord, "web": self.web}.get(channel, False)

    @field_validator("store")
    @classmethod
    def _known_store(cls, url: str | None) -> str | None:
        from agent_core.storage.recordings import check_store_url

        return None if url is None or not url.strip() else check_store_url(url.strip())

    @model_validator(mode="after")
    def _one_answer(self) -> RecordingSettings:
        if self.store and self.store.startswith("file:") and self.directory is not None:
            raise ValueError("recording: store (a file:// URL) and directory both name a local directory; set one")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError("recording: set both s3_access_key_id and s3_secret_access_key, or neither")
        return self


class JobSettings(BaseModel):
    # Who runs post-call jobs (transcript, summary): "local", a `parley worker` process that
    # `parley serve` starts beside itself (never the process carrying calls); "none", run
    # `parley worker` yourself (or on another machine against the same database); "modal", a
    # GPU function the orchestrator spawns per call (set by the Modal deployment).
    runner: Literal["local", "none", "modal"] = "local"
    # How often an idle worker looks for due jobs.
    poll_s: float = 2.0
    # Price table for a job's cost (USD per hour of the resource); Modal's list prices mid-2026
    # for its CPU and an L4 GPU. A job's cost = its measured seconds times these.
    cpu_usd_per_hour: float = 0.047
    gpu_usd_per_hour: float = 0.80
    # When a conversation's jobs have all finished, POST them here (JSON, signed with
    # webhook_secret: header X-Parley-Signature: sha256=<HMAC-SHA256 of the body, hex>).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # A receiver that is down is tried again after 10 s, 40 s, 160 s, ... up to this many times.
    webhook_attempts: int = 8


class ServiceCredentials(BaseModel):
    """How the remote STT/TTS/LLM clients authenticate: a Modal proxy auth token pair, or a bearer token."""

    token: SecretStr | None = None
    modal_key: SecretStr | None = None
    modal_secret: SecretStr | None = None

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.modal_key and self.modal_secret:
            headers["Modal-Key"] = self.modal_key.get_secret_value()
            headers["Modal-Secret"] = self.modal_secret.get_secret_value()
        if self.token:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        return headers


class TwilioSettings(BaseSettings):
    """The phone line (`Settings.twilio`). Credentials use Twilio's own variable names."""

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


class DiscordSettings(BaseSettings):
    """The Discord bot (`Settings.discord`): its token, under the name Discord's own docs use."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    token: SecretStr | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "token"))

    @property
    def bot_token(self) -> str | None:
        """The token as Discord takes it (pasted tokens often carry a newline), None when unset."""
        return self.token.get_secret_value().strip() or None if self.token else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PARLEY_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        # A refused setting's error names the field and the reason, never the input: it may be a secret.
        hide_input_in_errors=True,
    )

    persona: str = "default"
    # Where persona files live (default: config/personas).
    personas_path: Path | None = None
    data_dir: Path = _default_data_dir()
    # Any SQLAlchemy async URL (postgresql+asyncpg://...); default: SQLite in data_dir.
    database_url: str | None = None
    # `parley serve`: where to listen, and the public https URL that reaches it (a
    # tunnel or a proxy); webhooks are signed over the public URL, not the local one.
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    # Bearer token for the /api routes; without it they are closed.
    admin_token: SecretStr | None = None
    # The browser talk page (GET /) and the Realtime API (WS /v1/realtime) need this token unless the
    # server is only on localhost (a loopback host and no public_url); without it, they are closed to
    # other machines.
    talk_token: SecretStr | None = None
    # Conversations this process carries at once (calls, voice channels, Realtime sessions);
    # past it callers hear "busy". None: derived from the providers (agent_core/admission.py).
    max_conversations: int | None = None
    # What a phone caller hears when Parley is at capacity, before it hangs up.
    busy_message: str = "Sorry, all our lines are busy right now. Please call again in a few minutes."
    # Phone calls' VAD windows in one ONNX call per 20 ms tick (agent_core/vad_batch.py): a third
    # of the VAD's CPU at 32+ calls, the same decisions, up to a tick later. Off by default: the
    # later tick shifts where Whisper's transcript of a pause starts and ends, and on JFK's real
    # speech that turned "ask not" into "asked not"; turn it on for call volume.
    batched_vad: bool = False
    stt: SttSettings = SttSettings()
    llm: LlmSettings = LlmSettings()
    tts: TtsSettings = TtsSettings()
    services: ServiceCredentials = ServiceCredentials()
    session: SessionSettings = SessionSettings()
    recording: RecordingSettings = RecordingSettings()
    jobs: JobSettings = JobSettings()
    # The sections that read names of their own (see the module's docstring), built with the tree.
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_dir() / "parley.toml")
        return (init_settings, env_settings, dotenv_settings, toml)

    @property
    def personas_dir(self) -> Path:
        return self.personas_path or config_dir() / "personas"

    @property
    def conversation_limit(self) -> int:
        from agent_core.admission import default_limit

        embedded = "local" in (self.stt.backend, self.llm.backend) or self.tts.backend in ("local", "piper")
        return self.max_conversations or default_limit(embedded)

    @property
    def recordings_dir(self) -> Path:
        return self.recording.directory or self.data_dir / "recordings"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


def secret_values(*models: BaseModel) -> list[str]:
    """Every SecretStr value set in these settings (nested sections too): what logs must never show."""
    found: list[str] = []
    for model in models:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                found += secret_values(value)
    return found


# Where an invalid value came from, by the section whose validation failed.
_ENV_NAMES = {
    "TwilioSettings": "TWILIO_* / PARLEY_TWILIO_*",
    "DiscordSettings": "DISCORD_TOKEN",
    "DeploySettings": f"{DEPLOY_ENV_PREFIX}*",
}


def invalid_settings_message(exc: ValidationError) -> str:
    """What to tell a person whose environment (or .env, or parley.toml) holds an invalid setting."""
    return f"a {_ENV_NAMES.get(exc.title, 'PARLEY_*')} setting is invalid: {exc}"
