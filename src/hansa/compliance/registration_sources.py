"""The online tier of the notary: the registries that can say a number is really issued.

- **VIES**, the EU's VAT Information Exchange System, REST API:
  ``POST {vies_url}/check-vat-number`` with ``{"countryCode": "DE", "vatNumber": "136695976"}``
  answers ``{"valid": true, "name": ..., "address": ..., "requestDate": ...}``; a member
  state that cannot answer gives ``actionSucceed: false`` with ``errorWrappers``
  (``MS_UNAVAILABLE``, ``MS_MAX_CONCURRENT_REQ``, ...) or ``userError`` other than
  ``VALID``/``INVALID``: the validity is then unknown, never "valid".
- **GLEIF**, the LEI registry, JSON:API: ``GET {gleif_url}/api/v1/lei-records/{lei}``
  answers ``data.attributes.entity.legalAddress.country`` / ``headquartersAddress.country``
  and ``data.attributes.registration.status``; an unknown LEI is a 404.
- **EORI**, the EU's EOS validation service, SOAP 1.1: ``validateEORI`` (namespace
  ``http://eori.ws.eos.dds.s/``) posted to ``{eori_url}``; the answer's
  ``return/result`` holds ``eori``, ``status`` (``0`` valid, ``1`` not valid) and
  ``statusDescr``, with ``name``/``address`` when the trader agreed to publish them.

Each request goes through the node's :class:`~hansa.fetch.GuardedClient` (HTTPS only, no
private addresses, capped size and time).

Errors: ``notary.number_not_registered`` (422: the registry says no),
``notary.source_unreachable`` (503: no answer, a SOAP fault, or the registry could not
decide),
``notary.source_failed`` (502: an answer that cannot be read),
``notary.source_misconfigured`` (500: the configured URL is refused by the guard).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from hansa.errors import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    HansaError,
    UpstreamError,
    UpstreamUnavailable,
    ValidationFailed,
)
from hansa.fetch import FetchedResponse, GuardedClient, HttpStatusError

__all__ = [
    "EORI_PUBLIC_URL",
    "GLEIF_PUBLIC_URL",
    "VIES_PUBLIC_URL",
    "EoriClient",
    "Evidence",
    "GleifClient",
    "NotarySources",
    "ViesClient",
]

VIES_PUBLIC_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
GLEIF_PUBLIC_URL = "https://api.gleif.org"
EORI_PUBLIC_URL = "https://ec.europa.eu/taxation_customs/dds2/eos/validation/services/validation"

SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
EORI_NS = "http://eori.ws.eos.dds.s/"
#: Registry answers are small; a larger one is refused rather than parsed.
MAX_ANSWER_BYTES = 256 * 1024

# VIES member-state errors that mean "ask again later", not "this number is invalid".
_VIES_BUSY = frozenset(
    {
        "MS_UNAVAILABLE",
        "MS_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "SERVICE_UNAVAILABLE",
        "TIMEOUT",
        "SERVER_BUSY",
    }
)
# GLEIF registration states of an LEI that no longer identifies a live registration.
_LEI_DEAD = frozenset(
    {"ANNULLED", "CANCELLED", "DUPLICATE", "MERGED", "RETIRED", "PENDING_VALIDATION"}
)


@dataclass(frozen=True)
class NotarySources:
    """Which online registries a federation's notary asks (``None``: offline checks only)."""

    vies_url: str | None = None
    """Base of the VIES REST API, e.g. :data:`VIES_PUBLIC_URL`."""
    gleif_url: str | None = None
    """Base of the GLEIF API, e.g. :data:`GLEIF_PUBLIC_URL`."""
    eori_url: str | None = None
    """The EOS ``validation`` SOAP endpoint, e.g. :data:`EORI_PUBLIC_URL`."""

    @classmethod
    def public(cls) -> NotarySources:
        """The public EU and GLEIF services."""
        return cls(vies_url=VIES_PUBLIC_URL, gleif_url=GLEIF_PUBLIC_URL, eori_url=EORI_PUBLIC_URL)


@dataclass(frozen=True)
class Evidence:
    """One source's finding about a number: who said it, where, when, and its answer."""

    source: str
    """``stdnum`` (check digits), ``format`` (format only), ``VIES``, ``GLEIF`` or ``EORI``."""
    checked_at: datetime
    url: str | None = None
    answer: Mapping[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _not_registered(source: str, number: str, detail: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed(
        f"{source} says {number} is not registered: {detail}",
        code="notary.number_not_registered",
        pointer="number",
        source=source,
        **extra,
    )


def _unreachable(source: str, detail: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"{source} could not confirm the number: {detail}; nothing was issued, try again later",
        code="notary.source_unreachable",
        source=source,
    )


def _failed(source: str, detail: str) -> UpstreamError:
    return UpstreamError(
        f"{source} answered something that cannot be read: {detail}",
        code="notary.source_failed",
        source=source,
    )


def _translate(source: str, exc: HansaError) -> HansaError:
    """A guard or transport failure, said in the notary's words."""
    if isinstance(exc, HttpStatusError):
        status = exc.upstream_status
        if status >= 500 or status in {408, 429}:
            return _unreachable(source, f"it answered HTTP {status}")
        return _failed(source, f"it answered HTTP {status}")
    if isinstance(exc, UpstreamUnavailable):
        return _unreachable(source, exc.detail)
    if isinstance(exc, UpstreamError):
        return _failed(source, exc.detail)
    if isinstance(exc, BadRequest | Forbidden):
        return ConfigurationError(
            f"the {source} URL of this notary is refused: {exc.detail}; fix the notary sources",
            code="notary.source_misconfigured",
            source=source,
        )
    return exc


def _text(value: Any) -> str | None:
    """A registry's text field, without its 'not given' placeholders."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return None if text in {"", "---"} else text


# --- VIES ------------------------------------------------------------------------------------


class ViesClient:
    """Checks EU VAT numbers with the VIES REST API."""

    name = "VIES"

    def __init__(
        self, http: GuardedClient, base_url: str, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._http = http
        self.endpoint = base_url.rstrip("/") + "/check-vat-number"
        self._clock = clock

    def check_vat(self, vat: str) -> Evidence:
        """Ask VIES about ``vat`` (compact, with its ``EL``/``DE``... prefix)."""
        country, number = vat[:2], vat[2:]
        checked_at = self._clock()
        try:
            response = self._http.post_json(
                self.endpoint,
                {"countryCode": country, "vatNumber": number},
                max_bytes=MAX_ANSWER_BYTES,
                raise_for_status=False,
            )
        except HansaError as exc:
            raise _translate(self.name, exc) from exc
        body = self._body(response)
        errors = body.get("errorWrappers")
        if body.get("actionSucceed") is False or (isinstance(errors, list) and errors):
            first = errors[0] if isinstance(errors, list) and errors else {}
            code = str(first.get("error", "")) if isinstance(first, dict) else ""
            if code == "INVALID_INPUT":
                raise _not_registered(self.name, vat, "VIES refuses it as invalid input")
            raise _unreachable(self.name, f"VIES reported {code or 'an error'}")
        if not 200 <= response.status < 300:
            raise _translate(self.name, HttpStatusError(response))
        user_error = body.get("userError")
        if isinstance(user_error, str) and user_error not in {"VALID", "INVALID"}:
            if user_error in _VIES_BUSY:
                raise _unreachable(self.name, f"VIES reported {user_error}")
            raise _not_registered(self.name, vat, f"VIES reported {user_error}")
        valid = body.get("valid", body.get("isValid"))
        if not isinstance(valid, bool):
            raise _failed(self.name, "the answer has no boolean 'valid'")
        if not valid:
            raise _not_registered(self.name, vat, "VIES answered valid=false")
        answer: dict[str, Any] = {"valid": True, "countryCode": country, "vatNumber": number}
        for key in ("requestDate", "requestIdentifier", "name", "address"):
            text = _text(body.get(key))
            if text is not None:
                answer[key] = text
        return Evidence(source=self.name, checked_at=checked_at, url=self.endpoint, answer=answer)

    def _body(self, response: FetchedResponse) -> dict[str, Any]:
        try:
            body = response.json()
        except UpstreamError as exc:
            if not 200 <= response.status < 300:
                raise _translate(self.name, HttpStatusError(response)) from exc
            raise _failed(self.name, exc.detail) from exc
        if not isinstance(body, dict):
            raise _failed(self.name, "the answer is not a JSON object")
        return body


# --- GLEIF -----------------------------------------------------------------------------------


def _path(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


class GleifClient:
    """Looks LEIs up in the GLEIF API: the registration and the entity's countries."""

    name = "GLEIF"

    def __init__(
        self, http: GuardedClient, base_url: str, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._clock = clock

    def lei_record(self, lei: str) -> Evidence:
        """The GLEIF record of ``lei``; ``notary.number_not_registered`` if it has none."""
        url = f"{self.base_url}/api/v1/lei-records/{quote(lei, safe='')}"
        checked_at = self._clock()
        try:
            response = self._http.get_bytes(
                url,
                accept="application/vnd.api+json",
                max_bytes=MAX_ANSWER_BYTES,
                raise_for_status=False,
            )
        except HansaError as exc:
            raise _translate(self.name, exc) from exc
        if response.status == 404:
            raise _not_registered(self.name, lei, "GLEIF has no record of this LEI")
        if not 200 <= response.status < 300:
            raise _translate(self.name, HttpStatusError(response))
        try:
            body = response.json()
        except UpstreamError as exc:
            raise _failed(self.name, exc.detail) from exc
        attributes = _path(body, "data", "attributes")
        if not isinstance(attributes, dict):
            raise _failed(self.name, "the answer has no data.attributes")
        if str(attributes.get("lei", "")).upper() != lei:
            raise _failed(self.name, f"the answer is about {attributes.get('lei')!r}, not {lei}")
        entity = attributes.get("entity")
        legal_country = _path(entity, "legalAddress", "country")
        if not isinstance(legal_country, str) or not re.fullmatch(r"[A-Z]{2}", legal_country):
            raise _failed(self.name, "the answer has no entity.legalAddress.country")
        registration_status = _text(_path(attributes, "registration", "status"))
        entity_status = _text(_path(entity, "status"))
        if registration_status in _LEI_DEAD or entity_status == "INACTIVE":
            raise _not_registered(
                self.name,
                lei,
                f"its registration is {registration_status}, the entity {entity_status}",
                registrationStatus=registration_status,
                entityStatus=entity_status,
            )
        answer: dict[str, Any] = {"lei": lei, "legalAddressCountry": legal_country}
        optional = {
            "legalName": _path(entity, "legalName", "name"),
            "legalAddressRegion": _path(entity, "legalAddress", "region"),
            "headquartersAddressCountry": _path(entity, "headquartersAddress", "country"),
            "headquartersAddressRegion": _path(entity, "headquartersAddress", "region"),
            "registrationStatus": registration_status,
            "entityStatus": entity_status,
            "nextRenewalDate": _path(attributes, "registration", "nextRenewalDate"),
        }
        answer.update({k: t for k, v in optional.items() if (t := _text(v)) is not None})
        return Evidence(source=self.name, checked_at=checked_at, url=url, answer=answer)


# --- EORI (SOAP) -----------------------------------------------------------------------------


def eori_request(eori: str) -> bytes:
    """The SOAP 1.1 ``validateEORI`` envelope for one EORI number."""
    envelope = ElementTree.Element(f"{{{SOAP_ENVELOPE_NS}}}Envelope")
    body = ElementTree.SubElement(envelope, f"{{{SOAP_ENVELOPE_NS}}}Body")
    request = ElementTree.SubElement(body, f"{{{EORI_NS}}}validateEORI")
    ElementTree.SubElement(request, f"{{{EORI_NS}}}eori").text = eori
    ElementTree.register_namespace("soap", SOAP_ENVELOPE_NS)
    ElementTree.register_namespace("ev", EORI_NS)
    return bytes(ElementTree.tostring(envelope, encoding="utf-8", xml_declaration=True))


def parse_soap(content: bytes, source: str) -> ElementTree.Element:
    """Parse a SOAP answer; DTDs are refused (no entity tricks in a registry's answer)."""
    head = content[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in content.upper():
        raise _failed(source, "the answer carries a DTD, which SOAP forbids")
    try:
        # No DTD is left to expand and the size is capped by the guarded client.
        return ElementTree.fromstring(content)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise _failed(source, f"the answer is not XML: {exc}") from exc


def _child_text(element: ElementTree.Element, name: str) -> str | None:
    # The EOS service writes the result's children without a namespace.
    found = element.find(name)
    if found is None:
        found = element.find(f"{{{EORI_NS}}}{name}")
    return _text(found.text) if found is not None else None


class EoriClient:
    """Checks EORI numbers with the EU's EOS ``validateEORI`` SOAP service."""

    name = "EORI"

    def __init__(
        self, http: GuardedClient, url: str, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._http = http
        self.endpoint = url
        self._clock = clock

    def _post(self, content: bytes) -> FetchedResponse:
        return self._http.post_bytes(
            self.endpoint,
            content,
            {
                "Accept": "text/xml",
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": '""',
            },
            max_bytes=MAX_ANSWER_BYTES,
            raise_for_status=False,
        )

    def check_eori(self, eori: str) -> Evidence:
        """Ask the EOS service whether ``eori`` (compact, upper case) is registered."""
        checked_at = self._clock()
        try:
            response = self._post(eori_request(eori))
        except HansaError as exc:
            raise _translate(self.name, exc) from exc
        if response.status >= 500 and b"Fault" not in response.content:
            raise _translate(self.name, HttpStatusError(response))
        root = parse_soap(response.content, self.name)
        fault = root.find(f".//{{{SOAP_ENVELOPE_NS}}}Fault")
        if fault is not None:
            reason = _child_text(fault, "faultstring") or "no reason given"
            raise _unreachable(self.name, f"the service answered a SOAP fault: {reason}")
        if not 200 <= response.status < 300:
            raise _translate(self.name, HttpStatusError(response))
        answer_element = root.find(f".//{{{EORI_NS}}}validateEORIResponse/return")
        if answer_element is None:
            raise _failed(self.name, "the answer has no validateEORIResponse/return")
        result = next(
            (r for r in answer_element.findall("result") if _child_text(r, "eori") == eori),
            None,
        )
        if result is None:
            raise _failed(self.name, f"the answer has no result for {eori}")
        status = _child_text(result, "status")
        description = _child_text(result, "statusDescr") or ""
        if status == "1":
            raise _not_registered(self.name, eori, description or "not valid")
        if status != "0":
            raise _unreachable(
                self.name, f"the service could not decide (status {status}: {description})"
            )
        answer: dict[str, Any] = {"eori": eori, "status": status, "statusDescr": description}
        request_date = _child_text(answer_element, "requestDate")
        if request_date is not None:
            answer["requestDate"] = request_date
        for key in ("name", "address", "street", "postalCode", "city", "country"):
            text = _child_text(result, key)
            if text is not None:
                answer[key] = text
        return Evidence(source=self.name, checked_at=checked_at, url=self.endpoint, answer=answer)
