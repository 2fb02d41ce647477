"""Compliance: the clearing house's notary (registration numbers), later shapes and labels."""

from __future__ import annotations

from hansa.compliance.notary import (
    GX_CONTEXT,
    REGISTRATION_CREDENTIAL_VALIDITY,
    Notary,
    RegistrationCheck,
    registration_credential,
    registration_subject,
)
from hansa.compliance.registration_numbers import (
    OfflineCheck,
    RegistrationType,
    check_offline,
    parse_registration_type,
)
from hansa.compliance.registration_sources import (
    EORI_PUBLIC_URL,
    GLEIF_PUBLIC_URL,
    VIES_PUBLIC_URL,
    EoriClient,
    Evidence,
    GleifClient,
    NotarySources,
    ViesClient,
)

__all__ = [
    "EORI_PUBLIC_URL",
    "GLEIF_PUBLIC_URL",
    "GX_CONTEXT",
    "REGISTRATION_CREDENTIAL_VALIDITY",
    "VIES_PUBLIC_URL",
    "EoriClient",
    "Evidence",
    "GleifClient",
    "Notary",
    "NotarySources",
    "OfflineCheck",
    "RegistrationCheck",
    "RegistrationType",
    "ViesClient",
    "check_offline",
    "parse_registration_type",
    "registration_credential",
    "registration_subject",
]
