"""Request bodies of the catalogue API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PublishRequest(BaseModel):
    """What to publish: a participant's signed presentation, or (admin) bare credentials.

    ``verifiablePresentation``: a ``vp+jwt`` whose holder is the provider of every offering
    in it (or the participant itself), with ``aud`` = the catalogue node's DID, enveloping
    the credentials and their compliance label. ``verifiableCredentials``: ``vc+jwt``
    tokens including the label, accepted only with the node's admin API key.
    """

    model_config = ConfigDict(extra="forbid")

    verifiablePresentation: str | None = Field(default=None, max_length=1_000_000)  # noqa: N815
    verifiableCredentials: list[str] | None = Field(default=None, max_length=64)  # noqa: N815

    @model_validator(mode="after")
    def _exactly_one(self) -> PublishRequest:
        if (self.verifiablePresentation is None) == (self.verifiableCredentials is None):
            raise ValueError("send either verifiablePresentation or verifiableCredentials")
        return self


class PeerRequest(BaseModel):
    """A catalogue to follow: its base URL (``https://ch.example.eu``)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=512)
