"""The VIES, GLEIF and EORI clients, each against a local server speaking its real protocol."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
from fakes import (
    EORI_NS,
    EoriRegistry,
    GleifRegistry,
    ViesRegistry,
    lei_record,
    serve,
    unused_port_url,
)

from hansa.compliance.registration_sources import (
    EoriClient,
    GleifClient,
    ViesClient,
    eori_request,
    parse_soap,
)
from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.settings import HttpSettings

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
# A Greek trader's name and town, as VIES answers them (escaped: they look like Latin letters).
GREEK_NAME = "\u0395\u03a4\u0391\u0399\u03a1\u0395\u0399\u0391 \u0391.\u0395."
GREEK_TOWN = "\u0391\u0398\u0397\u039d\u0391"
LEI = "529900T8BM49AURSDO55"


def clock() -> datetime:
    return NOW


@pytest.fixture
def http() -> Iterator[GuardedClient]:
    settings = HttpSettings(allow_loopback=True, allow_http_on_loopback=True, timeout_seconds=5)
    with GuardedClient(settings) as client:
        yield client


# --- VIES ------------------------------------------------------------------------------------


def test_vies_confirms_a_registered_vat_number(http: GuardedClient) -> None:
    registry = ViesRegistry(known={"EL094259216": (GREEK_NAME, GREEK_TOWN)})
    with serve(registry.handle) as fake:
        evidence = ViesClient(http, fake.base_url + "/", clock=clock).check_vat("EL094259216")
    assert evidence.source == "VIES"
    assert evidence.url == fake.base_url + "/check-vat-number"
    assert evidence.checked_at == NOW
    assert evidence.answer == {
        "valid": True,
        "countryCode": "EL",
        "vatNumber": "094259216",
        "requestDate": "2026-11-27T10:00:00.000Z",
        "name": GREEK_NAME,
        "address": GREEK_TOWN,
    }
    method, path, headers, body = fake.requests[0]
    assert (method, path) == ("POST", "/check-vat-number")
    assert headers["content-type"] == "application/json"
    assert body == b'{"countryCode":"EL","vatNumber":"094259216"}'


def test_vies_invalid_is_not_registered(http: GuardedClient) -> None:
    with serve(ViesRegistry().handle) as fake, pytest.raises(HansaError) as caught:
        ViesClient(http, fake.base_url).check_vat("DE136695976")
    assert caught.value.code == "notary.number_not_registered"
    assert caught.value.status_code == 422
    assert "VIES" in caught.value.detail


def test_vies_member_state_unavailable_is_unreachable_not_invalid(http: GuardedClient) -> None:
    registry = ViesRegistry(unavailable={"DE": "MS_UNAVAILABLE"})
    with serve(registry.handle) as fake, pytest.raises(HansaError) as caught:
        ViesClient(http, fake.base_url).check_vat("DE136695976")
    assert caught.value.code == "notary.source_unreachable"
    assert caught.value.status_code == 503
    assert "MS_UNAVAILABLE" in caught.value.detail


def test_vies_invalid_input_is_not_registered(http: GuardedClient) -> None:
    registry = ViesRegistry(unavailable={"DE": "INVALID_INPUT"})
    with serve(registry.handle) as fake, pytest.raises(HansaError) as caught:
        ViesClient(http, fake.base_url).check_vat("DE136695976")
    assert caught.value.code == "notary.number_not_registered"


def test_vies_unreachable(http: GuardedClient) -> None:
    with pytest.raises(HansaError) as caught:
        ViesClient(http, unused_port_url()).check_vat("DE136695976")
    assert caught.value.code == "notary.source_unreachable"
    assert caught.value.status_code == 503


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (503, b"<html>maintenance</html>", "notary.source_unreachable"),
        (429, b"slow down", "notary.source_unreachable"),
        (400, b"<html>bad</html>", "notary.source_failed"),
        (200, b"not json", "notary.source_failed"),
        (200, b'{"countryCode": "DE"}', "notary.source_failed"),
        (200, b"[true]", "notary.source_failed"),
        (
            200,
            b'{"valid": false, "userError": "MS_MAX_CONCURRENT_REQ"}',
            "notary.source_unreachable",
        ),
    ],
)
def test_vies_bad_answers(http: GuardedClient, status: int, body: bytes, code: str) -> None:
    with (
        serve(lambda *_: (status, "application/json", body)) as fake,
        pytest.raises(HansaError) as caught,
    ):
        ViesClient(http, fake.base_url).check_vat("DE136695976")
    assert caught.value.code == code


def test_a_source_url_refused_by_the_guard_is_a_configuration_error() -> None:
    with GuardedClient(HttpSettings()) as strict, pytest.raises(HansaError) as caught:
        ViesClient(strict, "http://127.0.0.1:9").check_vat("DE136695976")
    assert caught.value.code == "notary.source_misconfigured"
    assert caught.value.status_code == 500


# --- GLEIF -----------------------------------------------------------------------------------


def test_gleif_record_gives_the_countries(http: GuardedClient) -> None:
    record = lei_record(LEI, name="Muster AG", country="DE", region="DE-BY", headquarters="AT")
    with serve(GleifRegistry({LEI: record}).handle) as fake:
        evidence = GleifClient(http, fake.base_url, clock=clock).lei_record(LEI)
    assert evidence.source == "GLEIF"
    assert evidence.url == f"{fake.base_url}/api/v1/lei-records/{LEI}"
    assert evidence.answer["lei"] == LEI
    assert evidence.answer["legalName"] == "Muster AG"
    assert evidence.answer["legalAddressCountry"] == "DE"
    assert evidence.answer["legalAddressRegion"] == "DE-BY"
    assert evidence.answer["headquartersAddressCountry"] == "AT"
    assert evidence.answer["registrationStatus"] == "ISSUED"
    assert fake.requests[0][2]["accept"] == "application/vnd.api+json"


def test_gleif_unknown_lei_is_not_registered(http: GuardedClient) -> None:
    with serve(GleifRegistry().handle) as fake, pytest.raises(HansaError) as caught:
        GleifClient(http, fake.base_url).lei_record(LEI)
    assert caught.value.code == "notary.number_not_registered"
    assert caught.value.status_code == 422


@pytest.mark.parametrize(
    ("registration", "entity"),
    [("RETIRED", "ACTIVE"), ("ANNULLED", "ACTIVE"), ("ISSUED", "INACTIVE")],
)
def test_gleif_dead_registrations_are_not_registered(
    http: GuardedClient, registration: str, entity: str
) -> None:
    record = lei_record(
        LEI, name="Alt AG", country="DE", registration_status=registration, entity_status=entity
    )
    with serve(GleifRegistry({LEI: record}).handle) as fake, pytest.raises(HansaError) as caught:
        GleifClient(http, fake.base_url).lei_record(LEI)
    assert caught.value.code == "notary.number_not_registered"
    assert registration in caught.value.detail


def test_gleif_lapsed_lei_is_still_registered(http: GuardedClient) -> None:
    record = lei_record(LEI, name="Muster AG", country="DE", registration_status="LAPSED")
    with serve(GleifRegistry({LEI: record}).handle) as fake:
        evidence = GleifClient(http, fake.base_url).lei_record(LEI)
    assert evidence.answer["registrationStatus"] == "LAPSED"


def test_gleif_answer_about_another_lei_is_refused(http: GuardedClient) -> None:
    record = lei_record("5493001KJTIIGC8Y1R12", name="Other", country="US")
    with serve(GleifRegistry({LEI: record}).handle) as fake, pytest.raises(HansaError) as caught:
        GleifClient(http, fake.base_url).lei_record(LEI)
    assert caught.value.code == "notary.source_failed"


def test_gleif_unreachable(http: GuardedClient) -> None:
    with pytest.raises(HansaError) as caught:
        GleifClient(http, unused_port_url()).lei_record(LEI)
    assert caught.value.code == "notary.source_unreachable"


# --- EORI ------------------------------------------------------------------------------------


def test_eori_request_is_the_validate_eori_soap_envelope() -> None:
    envelope = ElementTree.fromstring(eori_request("DE1234567"))
    assert envelope.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    numbers = [e.text for e in envelope.iter(f"{{{EORI_NS}}}eori")]
    assert numbers == ["DE1234567"]
    assert envelope.find(f".//{{{EORI_NS}}}validateEORI") is not None


def test_eori_service_confirms_a_registered_number(http: GuardedClient) -> None:
    with serve(EoriRegistry({"DE1234567": "Händler GmbH"}).handle) as fake:
        evidence = EoriClient(http, fake.base_url + "/validation", clock=clock).check_eori(
            "DE1234567"
        )
    assert evidence.source == "EORI"
    assert evidence.answer["status"] == "0"
    assert evidence.answer["statusDescr"] == "Valid"
    assert evidence.answer["name"] == "Händler GmbH"
    assert evidence.answer["requestDate"] == "27/11/2026"
    method, path, headers, _body = fake.requests[0]
    assert (method, path) == ("POST", "/validation")
    assert headers["content-type"].startswith("text/xml")
    assert "soapaction" in headers


def test_eori_not_valid_is_not_registered(http: GuardedClient) -> None:
    with serve(EoriRegistry().handle) as fake, pytest.raises(HansaError) as caught:
        EoriClient(http, fake.base_url).check_eori("DE1234567")
    assert caught.value.code == "notary.number_not_registered"
    assert "Not valid" in caught.value.detail


def test_eori_soap_fault_is_unreachable(http: GuardedClient) -> None:
    registry = EoriRegistry(fault="Service temporarily unavailable")
    with serve(registry.handle) as fake, pytest.raises(HansaError) as caught:
        EoriClient(http, fake.base_url).check_eori("DE1234567")
    assert caught.value.code == "notary.source_unreachable"
    assert "temporarily unavailable" in caught.value.detail


def test_eori_unreachable(http: GuardedClient) -> None:
    with pytest.raises(HansaError) as caught:
        EoriClient(http, unused_port_url()).check_eori("DE1234567")
    assert caught.value.code == "notary.source_unreachable"


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all <",
        b"<S:Envelope xmlns:S='http://schemas.xmlsoap.org/soap/envelope/'><S:Body/></S:Envelope>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ],
)
def test_eori_unreadable_answers(http: GuardedClient, body: bytes) -> None:
    with (
        serve(lambda *_: (200, "text/xml", body)) as fake,
        pytest.raises(HansaError) as caught,
    ):
        EoriClient(http, fake.base_url).check_eori("DE1234567")
    assert caught.value.code == "notary.source_failed"


def test_soap_parser_refuses_dtds() -> None:
    with pytest.raises(HansaError) as caught:
        parse_soap(b'<!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>', "EORI")
    assert "DTD" in caught.value.detail
