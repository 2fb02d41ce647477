"""The notary's offline tier: formats and check digits, and the error each mistake gets."""

from __future__ import annotations

import pytest

from hansa.compliance.registration_numbers import (
    RegistrationType,
    check_offline,
    country_name,
    parse_registration_type,
)
from hansa.errors import HansaError


@pytest.mark.parametrize(
    ("number", "normalised", "country"),
    [
        ("DE 136 695 976", "DE136695976", "DE"),
        ("FR40303265045", "FR40303265045", "FR"),
        ("NL004495445B01", "NL004495445B01", "NL"),
        ("IT00743110157", "IT00743110157", "IT"),
        ("EL094259216", "EL094259216", "GR"),
        # Greece's ISO code is accepted as the prefix and written the VAT way.
        ("GR094259216", "EL094259216", "GR"),
        ("ATU13585627", "ATU13585627", "AT"),
        ("BE0403019261", "BE0403019261", "BE"),
        ("ESA28015865", "ESA28015865", "ES"),
        ("PL526-025-09-95", "PL5260250995", "PL"),
    ],
)
def test_valid_eu_vat_numbers_are_normalised_with_their_country(
    number: str, normalised: str, country: str
) -> None:
    result = check_offline("vat-id", number)
    assert result.type is RegistrationType.VAT_ID
    assert result.number == normalised
    assert result.country == country
    assert result.method == "stdnum"
    assert result.reference is not None
    assert result.reference.endswith("stdnum.eu.vat")


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("DE136695977", "check digits"),
        ("FR41303265045", "check digits"),
        ("NL004495446B01", "check digits"),
        ("IT00743110158", "check digits"),
        ("EL094259217", "check digits"),
        ("ATU13585626", "check digits"),
        ("PL5260250994", "check digits"),
        ("DE13669597", "number of characters"),
        ("US123456789", "not an EU VAT prefix"),
        ("136695976", "country prefix"),
    ],
)
def test_wrong_vat_numbers_are_refused_saying_what_is_wrong(number: str, problem: str) -> None:
    with pytest.raises(HansaError) as caught:
        check_offline("vat-id", number)
    assert caught.value.code == "notary.invalid_number"
    assert caught.value.status_code == 422
    assert "gx:VatID" in caught.value.detail
    assert problem in caught.value.detail
    assert caught.value.to_problem()["registrationType"] == "gx:VatID"


def test_a_vat_number_of_another_country_than_the_declared_one_is_refused() -> None:
    assert check_offline("vat-id", "EL094259216", "GR").country == "GR"
    assert check_offline("vat-id", "EL094259216", "el").country == "GR"
    with pytest.raises(HansaError) as caught:
        check_offline("vat-id", "DE136695976", "FR")
    assert caught.value.code == "notary.country_mismatch"
    assert caught.value.status_code == 422


def test_a_declared_country_must_be_an_iso_code() -> None:
    with pytest.raises(HansaError) as caught:
        check_offline("vat-id", "DE136695976", "Germany")
    assert caught.value.code == "notary.invalid_country"


def test_lei_checksums() -> None:
    result = check_offline("lei-code", "5299 00T8 BM49 AURS DO55")
    assert result.number == "529900T8BM49AURSDO55"
    assert result.country is None
    # The declared country is kept (only GLEIF can confirm it).
    assert check_offline("lei-code", "529900T8BM49AURSDO55", "DE").country == "DE"
    for wrong, problem in (
        ("529900T8BM49AURSDO56", "check digits"),
        ("5493001KJTIIGC8Y1R13", "check digits"),
        ("529900T8BM49AURSDO5", "20 characters"),
        ("529900T8BM49AURSDO5X", "20 characters"),
    ):
        with pytest.raises(HansaError) as caught:
            check_offline("lei-code", wrong)
        assert caught.value.code == "notary.invalid_number"
        assert "gx:LeiCode" in caught.value.detail
        assert problem in caught.value.detail


@pytest.mark.parametrize(
    ("number", "country", "method"),
    [
        ("DE1234567", "DE", "format"),  # German customs numbers: no public check digits
        ("FR73282932000074", "FR", "stdnum"),  # FR + SIRET
        ("IT00743110157", "IT", "stdnum"),  # IT + partita IVA
        ("BE0403019261", "BE", "stdnum"),  # BE + enterprise number
        ("ESA28015865", "ES", "stdnum"),  # ES + NIF
        ("NL123456789", "NL", "format"),
        ("XI123456789000", "GB", "format"),  # Northern Ireland
        ("GR094259216", "GR", "format"),
    ],
)
def test_valid_eori_numbers(number: str, country: str, method: str) -> None:
    result = check_offline("eori", number)
    assert (result.number, result.country, result.method) == (number, country, method)


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("FR73282932000075", "FR SIRET, and its check digits are wrong"),
        ("IT00743110158", "IT partita IVA, and its check digits are wrong"),
        ("ESA28015866", "ES NIF, and its check digits are wrong"),
        ("DE1234567890123456", "up to 15"),
        ("GB123456789000", "not an EU member state"),
        ("US123", "not an EU member state"),
        ("D1234", "two-letter country code"),
    ],
)
def test_wrong_eori_numbers(number: str, problem: str) -> None:
    with pytest.raises(HansaError) as caught:
        check_offline("eori", number)
    assert caught.value.code == "notary.invalid_number"
    assert "gx:EORI" in caught.value.detail
    assert problem in caught.value.detail


def test_euid_tax_id_and_local_numbers_are_checked_for_format_only() -> None:
    euid = check_offline("euid", "DEK1101R.HRB116737")
    assert (euid.number, euid.country, euid.method) == ("DEK1101R.HRB116737", "DE", "format")
    assert check_offline("tax-id", "12/345/67890", "DE").country == "DE"
    assert check_offline("local", "HRB  116737").number == "HRB 116737"
    for kind, number in (
        ("euid", "DEK1101R"),
        ("euid", "USX1.123"),
        ("tax-id", "<script>"),
        ("local", "   "),
        ("local", "x" * 65),
        ("tax-id", "1" * 101),
    ):
        with pytest.raises(HansaError) as caught:
            check_offline(kind, number)
        assert caught.value.code == "notary.invalid_number", (kind, number)


def test_types_are_named_like_the_gaia_x_notary_and_ontology() -> None:
    assert parse_registration_type("vat-id") is RegistrationType.VAT_ID
    assert parse_registration_type("gx:VatID") is RegistrationType.VAT_ID
    assert parse_registration_type("vatID") is RegistrationType.VAT_ID
    assert parse_registration_type("lei-code") is RegistrationType.LEI_CODE
    assert parse_registration_type("schema:leiCode") is RegistrationType.LEI_CODE
    assert parse_registration_type("EORI") is RegistrationType.EORI
    assert parse_registration_type("tax-id") is RegistrationType.TAX_ID
    assert parse_registration_type("gx:LocalRegistrationNumber") is RegistrationType.LOCAL
    assert RegistrationType.LEI_CODE.slug == "lei-code"
    with pytest.raises(HansaError) as caught:
        parse_registration_type("duns")
    assert caught.value.code == "notary.unsupported_type"
    assert caught.value.status_code == 400
    assert "vat-id" in caught.value.detail


def test_country_names_for_eori_credentials() -> None:
    assert country_name("DE") == "Germany"
    assert country_name("EL") == "Greece"
    assert country_name("XI") == "United Kingdom (Northern Ireland)"
