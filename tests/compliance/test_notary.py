"""The notary service: offline and online checks together, and the credential it issues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fakes import EoriRegistry, GleifRegistry, ViesRegistry, lei_record, serve, unused_port_url

from hansa.compliance import (
    GX_CONTEXT,
    Notary,
    NotarySources,
    RegistrationCheck,
    RegistrationType,
    registration_credential,
)
from hansa.errors import HansaError
from hansa.fetch import GuardedClient
from hansa.identity.did import did_key_from_key
from hansa.identity.did_web import UniversalResolver
from hansa.identity.jsonld import expand
from hansa.identity.keys import PrivateKey, generate_private_key
from hansa.identity.vc_jose import CREDENTIALS_V2, verify_vc_jwt
from hansa.settings import HttpSettings

LEI = "529900T8BM49AURSDO55"
SUBJECT = "did:web:participant.example.eu"
GX = "https://w3id.org/gaia-x/development#"


@pytest.fixture
def http() -> Iterator[GuardedClient]:
    settings = HttpSettings(allow_loopback=True, allow_http_on_loopback=True, timeout_seconds=5)
    with GuardedClient(settings) as client:
        yield client


def issuer() -> tuple[str, str, PrivateKey]:
    key = generate_private_key("Ed25519")
    did = did_key_from_key(key)
    return did, f"{did}#{did.removeprefix('did:key:')}", key


# --- checks ----------------------------------------------------------------------------------


def test_offline_only_notary_checks_digits_and_says_so() -> None:
    check = Notary(None).check("vat-id", "de 136 695 976")
    assert check.type is RegistrationType.VAT_ID
    assert (check.number, check.country, check.valid) == ("DE136695976", "DE", True)
    assert check.sources == ("stdnum",)
    assert check.evidence[0].answer["checked"] == "format and check digits of a DE VAT number"
    assert check.to_json()["evidence"][0]["source"] == "stdnum"


def test_offline_errors_come_before_any_source_is_asked(http: GuardedClient) -> None:
    with serve(ViesRegistry().handle) as vies:
        notary = Notary(http, NotarySources(vies_url=vies.base_url))
        with pytest.raises(HansaError) as caught:
            notary.check("vat-id", "DE136695977")
    assert caught.value.code == "notary.invalid_number"
    assert vies.requests == []


def test_vies_confirms_a_vat_number(http: GuardedClient) -> None:
    registry = ViesRegistry(known={"FR40303265045": ("ACME SA", "PARIS")})
    with serve(registry.handle) as vies:
        check = Notary(http, NotarySources(vies_url=vies.base_url)).check(
            "gx:VatID", "FR40303265045", country="FR"
        )
    assert check.sources == ("stdnum", "VIES")
    assert check.evidence[1].answer["name"] == "ACME SA"


def test_vies_says_invalid(http: GuardedClient) -> None:
    with serve(ViesRegistry().handle) as vies, pytest.raises(HansaError) as caught:
        Notary(http, NotarySources(vies_url=vies.base_url)).check("vat-id", "ATU13585627")
    assert caught.value.code == "notary.number_not_registered"
    assert caught.value.status_code == 422


def test_vies_unreachable_is_never_valid(http: GuardedClient) -> None:
    notary = Notary(http, NotarySources(vies_url=unused_port_url()))
    with pytest.raises(HansaError) as caught:
        notary.check("vat-id", "IT00743110157")
    assert caught.value.code == "notary.source_unreachable"
    assert caught.value.status_code == 503


def test_sources_without_a_client_are_a_configuration_error() -> None:
    with pytest.raises(HansaError) as caught:
        Notary(None, NotarySources(vies_url="https://vies.example"))
    assert caught.value.code == "notary.source_misconfigured"


def test_gleif_gives_the_lei_its_country_and_subdivision(http: GuardedClient) -> None:
    record = lei_record(LEI, name="Muster AG", country="DE", region="DE-BY")
    with serve(GleifRegistry({LEI: record}).handle) as gleif:
        notary = Notary(http, NotarySources(gleif_url=gleif.base_url))
        declared = notary.check("lei-code", LEI, country="DE")
        undeclared = notary.check("lei-code", LEI)
    for check in (declared, undeclared):
        assert (check.country, check.subdivision) == ("DE", "DE-BY")
        assert check.sources == ("stdnum", "GLEIF")


def test_gleif_country_mismatch(http: GuardedClient) -> None:
    record = lei_record(LEI, name="Muster AG", country="DE", headquarters="AT")
    with serve(GleifRegistry({LEI: record}).handle) as gleif:
        notary = Notary(http, NotarySources(gleif_url=gleif.base_url))
        # The headquarters' country is accepted as well as the legal address's.
        assert notary.check("lei-code", LEI, country="AT").country == "DE"
        with pytest.raises(HansaError) as caught:
            notary.check("lei-code", LEI, country="FR")
    assert caught.value.code == "notary.country_mismatch"
    assert caught.value.status_code == 422
    assert "legal address in DE" in caught.value.detail
    assert caught.value.to_problem()["legalAddressCountry"] == "DE"


def test_gleif_region_that_is_not_iso_is_left_out(http: GuardedClient) -> None:
    record = lei_record(LEI, name="Muster AG", country="DE", region="Bavaria")
    with serve(GleifRegistry({LEI: record}).handle) as gleif:
        check = Notary(http, NotarySources(gleif_url=gleif.base_url)).check("lei-code", LEI)
    assert check.subdivision is None


def test_lei_with_wrong_checksum_is_refused_before_gleif(http: GuardedClient) -> None:
    with serve(GleifRegistry().handle) as gleif:
        notary = Notary(http, NotarySources(gleif_url=gleif.base_url))
        with pytest.raises(HansaError) as caught:
            notary.check("lei-code", "529900T8BM49AURSDO56")
    assert caught.value.code == "notary.invalid_number"
    assert gleif.requests == []


def test_eori_service_confirms_an_eori(http: GuardedClient) -> None:
    with serve(EoriRegistry({"FR73282932000074": "ACME"}).handle) as eori:
        notary = Notary(http, NotarySources(eori_url=eori.base_url))
        check = notary.check("eori", "FR 73282932000074", country="FR")
        with pytest.raises(HansaError) as caught:
            notary.check("eori", "DE1234567")
    assert check.sources == ("stdnum", "EORI")
    assert caught.value.code == "notary.number_not_registered"


def test_unknown_type() -> None:
    with pytest.raises(HansaError) as caught:
        Notary(None).check("duns", "123")
    assert caught.value.code == "notary.unsupported_type"


# --- the credential --------------------------------------------------------------------------


def test_issued_vat_credential_verifies_and_has_the_gaia_x_shape(http: GuardedClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    registry = ViesRegistry(known={"EL094259216": ("Name", "Address")})
    did, kid, key = issuer()
    with serve(registry.handle) as vies:
        notary = Notary(http, NotarySources(vies_url=vies.base_url), clock=lambda: now)
        check = notary.check("vat-id", "GR094259216")
        token = notary.issue_registration_credential(
            check,
            SUBJECT,
            issuer_did=did,
            private_key=key,
            kid=kid,
            credential_id="https://notary.example.eu/credentials/1",
        )
    verified = verify_vc_jwt(token, UniversalResolver(None))
    credential = verified.credential
    assert verified.issuer == did
    assert verified.header["typ"] == "vc+jwt"
    assert credential["@context"] == [CREDENTIALS_V2, GX_CONTEXT]
    assert credential["id"] == "https://notary.example.eu/credentials/1"
    assert credential["type"] == ["VerifiableCredential", "gx:VatID"]
    assert credential["credentialSubject"] == {
        "id": SUBJECT,
        "type": "gx:VatID",
        "gx:vatID": "EL094259216",
        "gx:countryCode": "GR",
    }
    assert credential["validFrom"] == now.isoformat().replace("+00:00", "Z")
    assert credential["exp"] - credential["nbf"] == int(timedelta(days=90).total_seconds())
    offline, online = credential["evidence"]
    assert offline["type"] == ["Evidence"]
    assert offline["gx:evidenceOf"] == "gx:VatID"
    assert offline["gx:evidenceURL"].endswith("stdnum.eu.vat")
    assert online == {
        "type": ["Evidence"],
        "gx:evidenceOf": "gx:VatID",
        "gx:evidenceURL": f"{vies.base_url}/check-vat-number",
        "gx:executionDate": credential["validFrom"],
        "description": "confirmed by VIES",
    }
    # The trader's name and address stay in the notary's records, out of the credential.
    assert "Address" not in json.dumps(credential)


def test_lei_credential_subject_and_its_json_ld_terms(http: GuardedClient) -> None:
    record = lei_record(LEI, name="Muster AG", country="DE", region="DE-BY")
    did, kid, key = issuer()
    with serve(GleifRegistry({LEI: record}).handle) as gleif:
        notary = Notary(http, NotarySources(gleif_url=gleif.base_url))
        token = notary.issue_registration_credential(
            notary.check("lei-code", LEI),
            SUBJECT,
            issuer_did=did,
            private_key=key,
            kid=kid,
        )
    credential = verify_vc_jwt(token, UniversalResolver(None)).credential
    assert credential["id"].startswith("urn:uuid:")
    assert credential["credentialSubject"] == {
        "id": SUBJECT,
        "type": "gx:LeiCode",
        "schema:leiCode": LEI,
        "gx:countryCode": "DE",
        "gx:subdivisionCountryCode": "DE-BY",
    }
    # Every term means what the Gaia-X 25.11 shapes expect, through the shipped contexts.
    subject = expand({k: v for k, v in credential.items() if k not in {"iss", "iat", "nbf", "exp"}})
    node = subject[0]["https://www.w3.org/2018/credentials#credentialSubject"][0]
    assert node["@type"] == [f"{GX}LeiCode"]
    assert node["https://schema.org/leiCode"] == [{"@value": LEI}]
    assert node[f"{GX}countryCode"] == [{"@value": "DE"}]


@pytest.mark.parametrize(
    ("kind", "number", "country", "expected"),
    [
        ("eori", "DE1234567", None, {"gx:eori": "DE1234567", "gx:country": "Germany"}),
        ("euid", "DEK1101R.HRB116737", None, {"gx:euid": "DEK1101R.HRB116737"}),
        ("tax-id", "12/345/67890", "DE", {"schema:taxID": "12/345/67890"}),
        ("local", "HRB 116737", "DE", {"gx:local": "HRB 116737"}),
    ],
)
def test_offline_credentials_of_the_other_types(
    kind: str, number: str, country: str | None, expected: dict[str, str]
) -> None:
    did, kid, key = issuer()
    notary = Notary(None)
    check = notary.check(kind, number, country=country)
    token = notary.issue_registration_credential(
        check,
        SUBJECT,
        issuer_did=did,
        private_key=key,
        kid=kid,
    )
    credential = verify_vc_jwt(token, UniversalResolver(None)).credential
    subject = credential["credentialSubject"]
    assert subject == {"id": SUBJECT, "type": check.type.gx_type, **expected}
    assert credential["evidence"][0]["description"].startswith("offline check (")
    expand({k: v for k, v in credential.items() if k not in {"iss", "iat", "nbf", "exp"}})


def test_subject_and_credential_ids_must_be_iris() -> None:
    now = datetime.now(UTC)
    check = Notary(None).check("vat-id", "DE136695976")
    for subject, vc_id, code in (
        ("participant", None, "notary.invalid_subject"),
        ("", None, "notary.invalid_subject"),
        (SUBJECT, "not an iri", "notary.invalid_vc_id"),
    ):
        with pytest.raises(HansaError) as caught:
            registration_credential(
                check,
                subject,
                "did:web:notary.example.eu",
                credential_id=vc_id,
                valid_from=now,
                valid_until=now,
            )
        assert caught.value.code == code


def test_a_failed_check_is_never_attested() -> None:
    now = datetime.now(UTC)
    failed = RegistrationCheck(
        type=RegistrationType.VAT_ID, number="DE1", country="DE", valid=False, evidence=()
    )
    with pytest.raises(HansaError) as caught:
        registration_credential(
            failed,
            SUBJECT,
            "did:web:n.example",
            credential_id=None,
            valid_from=now,
            valid_until=now,
        )
    assert caught.value.code == "notary.invalid_number"


def test_the_package_exports_its_public_api() -> None:
    import hansa.compliance as compliance

    assert len(set(compliance.__all__)) == len(compliance.__all__)
    for name in compliance.__all__:
        assert getattr(compliance, name) is not None
