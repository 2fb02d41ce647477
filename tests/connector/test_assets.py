"""Assets, policies and offers (on SQLite and PostgreSQL); data addresses; catalog JSON."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hansa.connector.assets import AssetService, CatalogQuery, parse_price
from hansa.connector.catalog import (
    CatalogService,
    DspEndpoint,
    catalog_error,
    decode_token,
    encode_token,
    parse_filter,
    version_metadata,
)
from hansa.connector.data_address import (
    DataAddressError,
    DataAddressRules,
    resolve_file_path,
    validate_data_address,
)
from hansa.connector.dsp_schemas import schema_errors
from hansa.connector.provider_models import ConnectorPolicy
from hansa.errors import BadRequest, HansaError, NotFound
from hansa.policy import AtomicConstraint, describe_policy, parse_policy

HTTP = {"type": "HttpData", "baseUrl": "https://data.example.eu/weather"}
USE_IN_EU = {
    "@context": "http://www.w3.org/ns/odrl.jsonld",
    "@type": "Set",
    "permission": [
        {
            "action": "use",
            "constraint": [{"leftOperand": "spatial", "operator": "eq", "rightOperand": "EU"}],
        }
    ],
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "weather").mkdir(parents=True)
    (root / "weather" / "2026.csv").write_text("day,temp\n")
    return root


@pytest.fixture
def service(sessions: sessionmaker[Session], root: Path) -> AssetService:
    return AssetService(sessions, DataAddressRules(file_root=root))


# --- data addresses (pure) ----------------------------------------------------------------


def test_valid_addresses_of_each_type(root: Path) -> None:
    rules = DataAddressRules(file_root=root)
    assert validate_data_address(HTTP, rules) == HTTP
    file = validate_data_address({"type": "File", "path": "weather/2026.csv"}, rules)
    assert file["path"] == "weather/2026.csv"
    absolute = validate_data_address({"type": "File", "path": str(root / "weather")}, rules)
    assert absolute["path"] == "weather"  # stored relative to the root
    s3 = {"type": "AmazonS3", "bucket": "weather-data", "key": "2026/01.csv", "region": "eu-west-1"}
    assert validate_data_address(s3, rules) == s3


@pytest.mark.parametrize(
    ("address", "code", "pointer"),
    [
        ("https://x", "data_address.invalid", "/dataAddress"),
        ({"type": "Ftp"}, "data_address.unknown_type", "/dataAddress/type"),
        ({"type": "HttpData"}, "data_address.missing_property", "/dataAddress/baseUrl"),
        ({**HTTP, "secret": "x"}, "data_address.unknown_property", "/dataAddress/secret"),
        ({"type": "HttpData", "baseUrl": 5}, "data_address.invalid", "/dataAddress/baseUrl"),
        (
            {"type": "HttpData", "baseUrl": "http://data.example.eu/x"},
            "data_address.url_not_https",
            "/dataAddress/baseUrl",
        ),
        (
            {"type": "HttpData", "baseUrl": "https://user:pw@data.example.eu/"},
            "data_address.url_invalid",
            "/dataAddress/baseUrl",
        ),
        ({"type": "HttpData", "baseUrl": "/relative"}, "data_address.url_invalid", None),
        ({"type": "File", "path": "../etc/passwd"}, "data_address.path_traversal", None),
        ({"type": "File", "path": "weather/../../x"}, "data_address.path_traversal", None),
        ({"type": "File", "path": "/etc/passwd"}, "data_address.path_outside_root", None),
        ({"type": "File", "path": "."}, "data_address.path_outside_root", None),
        (
            {"type": "AmazonS3", "bucket": "Bad_Bucket", "key": "k"},
            "data_address.bucket_invalid",
            "/dataAddress/bucket",
        ),
        (
            {"type": "AmazonS3", "bucket": "192.168.1.1", "key": "k"},
            "data_address.bucket_invalid",
            None,
        ),
        (
            {"type": "AmazonS3", "bucket": "b-1", "key": "k" * 1025},
            "data_address.key_invalid",
            "/dataAddress/key",
        ),
        (
            {"type": "AmazonS3", "bucket": "b-1", "key": "k", "region": "Mars"},
            "data_address.invalid",
            "/dataAddress/region",
        ),
        (
            {"type": "AmazonS3", "bucket": "b-1", "key": "k", "endpoint": "http://s3.example"},
            "data_address.url_not_https",
            "/dataAddress/endpoint",
        ),
    ],
)
def test_each_bad_address_has_its_code_and_pointer(
    root: Path, address: Any, code: str, pointer: str | None
) -> None:
    with pytest.raises(DataAddressError) as error:
        validate_data_address(address, DataAddressRules(file_root=root))
    assert error.value.code == code
    assert error.value.status_code == 422
    expected = pointer or ("/dataAddress/path" if "path" in code else None)
    if expected is not None:
        assert error.value.pointer == expected


def test_every_problem_is_listed_at_once(root: Path) -> None:
    with pytest.raises(DataAddressError) as error:
        validate_data_address(
            {"type": "AmazonS3", "bucket": "A", "key": "", "extra": 1}, DataAddressRules(root)
        )
    pointers = {e["pointer"] for e in error.value.errors or []}
    assert pointers == {"/dataAddress/extra", "/dataAddress/key"}
    with pytest.raises(DataAddressError) as error:
        validate_data_address(
            {"type": "AmazonS3", "bucket": "A", "key": "x" * 2000}, DataAddressRules(root)
        )
    assert {e["code"] for e in error.value.errors or []} == {
        "data_address.bucket_invalid",
        "data_address.key_invalid",
    }


def test_symlinks_leading_out_of_the_root_are_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, root / "innocent.csv")
    os.symlink(tmp_path, root / "up")
    os.symlink(root / "weather" / "2026.csv", root / "latest.csv")  # stays inside: fine
    rules = DataAddressRules(file_root=root)
    for path in ("innocent.csv", "up/secret.txt", str(root / "innocent.csv")):
        with pytest.raises(DataAddressError) as error:
            validate_data_address({"type": "File", "path": path}, rules)
        assert error.value.code == "data_address.path_outside_root", path
    assert validate_data_address({"type": "File", "path": "latest.csv"}, rules)["path"] == (
        "weather/2026.csv"
    )
    # The data plane checks again at access time: a link swapped in later is caught.
    os.symlink(outside, root / "weather" / "later.csv")
    with pytest.raises(DataAddressError):
        resolve_file_path(root, "weather/later.csv")
    with pytest.raises(DataAddressError) as nul:
        resolve_file_path(root, "a\x00b")
    assert nul.value.code == "data_address.path_traversal"


def test_file_addresses_need_a_file_root_and_loopback_http_needs_opting_in() -> None:
    with pytest.raises(DataAddressError) as error:
        validate_data_address({"type": "File", "path": "x"}, DataAddressRules())
    assert (error.value.code, error.value.pointer) == (
        "data_address.file_root_unset",
        "/dataAddress/path",
    )
    local = {"type": "HttpData", "baseUrl": "http://127.0.0.1:8080/data"}
    with pytest.raises(DataAddressError):
        validate_data_address(local, DataAddressRules())
    assert validate_data_address(local, DataAddressRules(allow_http_on_loopback=True)) == local
    with pytest.raises(DataAddressError):
        validate_data_address(
            {"type": "HttpData", "baseUrl": "http://data.example.eu/"},
            DataAddressRules(allow_http_on_loopback=True),
        )


# --- the service, on every database ----------------------------------------------------------


def test_asset_policy_offer_lifecycle(service: AssetService) -> None:
    asset = service.create_asset(
        HTTP, id="weather-2026", title="Weather 2026", keywords=["weather", " climate "]
    )
    assert asset.keywords == ("weather", "climate")
    assert asset.created_at.tzinfo is not None
    policy = service.create_policy(USE_IN_EU, id="eu-only", title="EU only")
    offer = service.create_offer(
        asset.id, policy.id, id="offer-1", price=parse_price("12.50", "EUR")
    )
    assert offer.price is not None
    assert offer.price.amount == Decimal("12.50")
    assert service.get_offer("offer-1").to_json()["price"] == {"amount": "12.50", "currency": "EUR"}
    assert [a.id for a in service.list_assets()] == ["weather-2026"]
    assert service.get_policy("eu-only").to_json()["description"]
    assert [o.id for o in service.list_offers("weather-2026")] == ["offer-1"]
    assert service.list_offers("other") == []

    with pytest.raises(HansaError) as in_use:
        service.delete_asset("weather-2026")
    assert in_use.value.code == "asset.in_use"
    assert in_use.value.status_code == 409
    with pytest.raises(HansaError) as policy_in_use:
        service.delete_policy("eu-only")
    assert policy_in_use.value.code == "policy.in_use"
    service.delete_offer("offer-1")
    service.delete_policy("eu-only")
    service.delete_asset("weather-2026")
    for call, code in (
        (lambda: service.get_asset("weather-2026"), "asset.not_found"),
        (lambda: service.get_policy("eu-only"), "policy.not_found"),
        (lambda: service.get_offer("offer-1"), "offer.not_found"),
        (lambda: service.delete_offer("offer-1"), "offer.not_found"),
    ):
        with pytest.raises(NotFound) as missing:
            call()
        assert missing.value.code == code


def test_a_bad_policy_is_refused_with_its_problems_and_nothing_stored(
    service: AssetService, sessions: sessionmaker[Session]
) -> None:
    bad = {
        "@type": "Set",
        "permission": [
            {"action": "fly", "constraint": [{"leftOperand": "spatial", "operator": "near"}]}
        ],
    }
    with pytest.raises(HansaError) as error:
        service.create_policy(bad, id="bad")
    assert error.value.status_code == 422
    codes = {e["code"] for e in error.value.errors or []}
    assert "policy.unknown_action" in codes
    assert all(e["pointer"].startswith("/permission/0") for e in error.value.errors or [])
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConnectorPolicy)) == 0


def test_ids_duplicates_and_references(service: AssetService) -> None:
    service.create_asset(HTTP, id="a1")
    with pytest.raises(HansaError) as taken:
        service.create_asset(HTTP, id="a1")
    assert (taken.value.code, taken.value.status_code) == ("asset.exists", 409)
    for bad_id in ("", "has space", "a/b", "-lead", "x" * 300):
        with pytest.raises(HansaError) as invalid:
            service.create_asset(HTTP, id=bad_id)
        assert (invalid.value.code, invalid.value.pointer) == ("asset.invalid_id", "/id")
    with pytest.raises(HansaError) as keywords:
        service.create_asset(HTTP, keywords=["ok", ""])
    assert keywords.value.pointer == "/keywords/1"
    generated = service.create_asset(HTTP)
    assert generated.id.startswith("urn:uuid:")

    service.create_policy(USE_IN_EU, id="p1")
    with pytest.raises(HansaError) as policy_taken:
        service.create_policy(USE_IN_EU, id="p1")
    assert policy_taken.value.code == "policy.exists"
    for asset_id, policy_id, code, pointer in (
        ("nope", "p1", "offer.unknown_asset", "/assetId"),
        ("a1", "nope", "offer.unknown_policy", "/policyId"),
    ):
        with pytest.raises(HansaError) as unknown:
            service.create_offer(asset_id, policy_id)
        assert (unknown.value.code, unknown.value.pointer) == (code, pointer)
    service.create_offer("a1", "p1", id="o1")
    with pytest.raises(HansaError) as offer_taken:
        service.create_offer("a1", "p1", id="o1")
    assert offer_taken.value.code == "offer.exists"


def test_offers_need_an_offerable_policy_for_the_right_target(service: AssetService) -> None:
    service.create_asset(HTTP, id="a1")
    service.create_policy(
        {"@type": "Set", "obligation": [{"action": "compensate"}]}, id="only-duties"
    )
    service.create_policy({**USE_IN_EU, "target": "other-asset"}, id="elsewhere")
    service.create_policy({**USE_IN_EU, "target": "a1"}, id="here")
    with pytest.raises(HansaError) as nothing:
        service.create_offer("a1", "only-duties")
    assert nothing.value.code == "offer.policy_not_offerable"
    with pytest.raises(HansaError) as target:
        service.create_offer("a1", "elsewhere")
    assert target.value.code == "offer.target_mismatch"
    assert service.create_offer("a1", "here").asset_id == "a1"


def test_offers_must_fit_the_dsp_schema(service: AssetService) -> None:
    # A refined action is valid ODRL, but DSP writes actions as plain strings.
    refined = {
        "@type": "Set",
        "permission": [
            {
                "action": {
                    "rdf:value": "use",
                    "refinement": [
                        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}
                    ],
                }
            }
        ],
    }
    service.create_asset(HTTP, id="a1")
    service.create_policy(refined, id="refined")
    with pytest.raises(HansaError) as error:
        service.create_offer("a1", "refined")
    assert error.value.code == "offer.not_dsp_compatible"
    assert error.value.status_code == 422
    assert [e["pointer"] for e in error.value.errors or []] == ["/permission/0/action"]
    assert service.list_offers() == []


@pytest.mark.parametrize(
    ("amount", "currency", "pointer"),
    [
        ("-1", "EUR", "/price/amount"),
        ("abc", "EUR", "/price/amount"),
        ("NaN", "EUR", "/price/amount"),
        ("Infinity", "EUR", "/price/amount"),
        ("1.0000001", "EUR", "/price/amount"),
        ("1", "EURO", "/price/currency"),
        ("1", "XYZ", "/price/currency"),
    ],
)
def test_bad_prices(amount: str, currency: str, pointer: str) -> None:
    with pytest.raises(HansaError) as error:
        parse_price(amount, currency)
    assert (error.value.code, error.value.pointer) == ("offer.price_invalid", pointer)


def test_offered_assets_page_and_filter(service: AssetService) -> None:
    service.create_policy(USE_IN_EU, id="p")
    for i in range(5):
        service.create_asset(
            HTTP,
            id=f"asset-{i}",
            title=f"Dataset {i}",
            keywords=["even"] if i % 2 == 0 else ["odd_100%"],
        )
        if i != 4:
            service.create_offer(f"asset-{i}", "p", id=f"offer-{i}")
    first, more = service.offered_assets(CatalogQuery(offset=0, limit=2))
    assert [o.asset.id for o in first] == ["asset-0", "asset-1"]
    assert more
    last, more = service.offered_assets(CatalogQuery(offset=2, limit=2))
    assert [o.asset.id for o in last] == ["asset-2", "asset-3"]
    assert not more
    assert all(len(o.offers) == 1 for o in first + last)
    even, _ = service.offered_assets(CatalogQuery(keyword="EVEN"))
    assert [o.asset.id for o in even] == ["asset-0", "asset-2"]
    # LIKE wildcards in the keyword are taken literally.
    literal, _ = service.offered_assets(CatalogQuery(keyword="_100%"))
    assert [o.asset.id for o in literal] == ["asset-1", "asset-3"]
    assert service.offered_assets(CatalogQuery(keyword="d%"))[0] == []
    by_id, _ = service.offered_assets(CatalogQuery(asset_ids=("asset-3", "asset-4")))
    assert [o.asset.id for o in by_id] == ["asset-3"]
    with pytest.raises(NotFound):
        service.offered_asset("asset-4")


# --- the catalog JSON, against the DSP schemas ------------------------------------------------


def test_catalog_and_dataset_match_the_dsp_schemas(service: AssetService) -> None:
    endpoint = DspEndpoint("did:web:provider.example.eu", "https://provider.example.eu/")
    catalog = CatalogService(service, endpoint)

    class Caller:
        did = "did:web:consumer.example.eu"

    empty = catalog.catalog(Caller()).catalog
    assert "dataset" not in empty  # the schema wants 1+ datasets when the key is present
    assert schema_errors(empty, "Catalog") == []

    service.create_asset(
        {"type": "AmazonS3", "bucket": "weather", "key": "2026.csv"},
        id="weather",
        title="Weather",
        description="Daily temperatures",
        keywords=["weather"],
        content_type="text/csv",
    )
    service.create_policy({**USE_IN_EU, "@id": "urn:policy:eu", "uid": "x"}, id="p")
    service.create_offer("weather", "p", id="urn:offer:weather-eu")
    page = catalog.catalog(Caller())
    assert schema_errors(page.catalog, "Catalog") == []
    dataset = page.catalog["dataset"][0]
    offer = dataset["hasPolicy"][0]
    assert offer["@id"] == "urn:offer:weather-eu"
    assert offer["@type"] == "Offer"
    assert "target" not in offer
    assert "@context" not in offer
    assert "uid" not in offer
    assert {d["format"] for d in dataset["distribution"]} >= {"HttpData-PULL", "AmazonS3-PUSH"}
    assert all(d["accessService"] == endpoint.service_id for d in dataset["distribution"])
    assert page.catalog["service"][0]["endpointURL"] == "https://provider.example.eu/dsp/2025-1"
    assert "dataAddress" not in str(page.catalog)
    assert "bucket" not in str(page.catalog)
    assert page.catalog["participantId"] == "did:web:provider.example.eu"

    standalone = catalog.dataset(Caller(), "weather")
    assert schema_errors(standalone, "Dataset") == []
    assert standalone["distribution"][0]["accessService"]["endpointURL"].endswith("/dsp/2025-1")

    error = catalog_error(NotFound("no such dataset", code="catalog.dataset_not_found"))
    assert schema_errors(error, "CatalogError") == []
    assert error["status"] == 404
    assert error["reason"] == ["no such dataset"]
    assert schema_errors(version_metadata(endpoint), "VersionResponse") == []


def test_offers_naming_an_assignee_are_shown_only_to_it(service: AssetService) -> None:
    endpoint = DspEndpoint("did:web:provider.example.eu", "https://provider.example.eu")
    catalog = CatalogService(service, endpoint)
    service.create_asset(HTTP, id="private")
    service.create_policy(
        {**USE_IN_EU, "assignee": "did:web:partner.example.eu"}, id="partner-only"
    )
    service.create_offer("private", "partner-only", id="o")

    class Partner:
        did = "did:web:partner.example.eu"

    class Stranger:
        did = "did:web:stranger.example.eu"

    assert len(catalog.catalog(Partner()).catalog["dataset"]) == 1
    assert "dataset" not in catalog.catalog(Stranger()).catalog
    assert catalog.dataset(Partner(), "private")["@id"] == "private"
    with pytest.raises(NotFound) as hidden:
        catalog.dataset(Stranger(), "private")
    assert hidden.value.code == "catalog.dataset_not_found"


def test_filters_and_tokens() -> None:
    assert parse_filter(None) == (None, ())
    assert parse_filter([]) == (None, ())
    assert parse_filter([{"keyword": "w"}, {"id": "a"}, {"id": "b"}]) == ("w", ("a", "b"))
    for bad, pointer in (
        ({"keyword": "w"}, "/filter"),
        (["w"], "/filter/0"),
        ([{"keyword": "w", "id": "a"}], "/filter/0"),
        ([{"sparql": "SELECT"}], "/filter/0/sparql"),
        ([{"id": 5}], "/filter/0/id"),
        ([{"keyword": "a"}, {"keyword": "b"}], "/filter/1"),
    ):
        with pytest.raises(BadRequest) as error:
            parse_filter(bad)
        assert (error.value.code, error.value.pointer) == ("catalog.filter_unsupported", pointer)
    assert decode_token(encode_token(100)) == 100
    assert decode_token(None) == 0
    for token in ("", "garbage!", encode_token(-1), "eyJvIjogdHJ1ZX0", "bnVsbA"):
        with pytest.raises(BadRequest) as error:
            decode_token(token)
        assert error.value.code == "catalog.invalid_continuation_token"


def test_numeric_right_operands_become_value_objects_with_the_same_meaning(
    service: AssetService,
) -> None:
    counted = {
        "@type": "Set",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "count", "operator": "lteq", "rightOperand": 10},
                    {
                        "or": [
                            {"leftOperand": "purpose", "operator": "eq", "rightOperand": "a"},
                            {"leftOperand": "count", "operator": "lt", "rightOperand": 3},
                        ]
                    },
                ],
            }
        ],
    }
    service.create_asset(HTTP, id="a")
    service.create_policy(counted, id="counted")
    service.create_offer("a", "counted", id="o")
    dataset = CatalogService(
        service, DspEndpoint("did:web:p.example", "https://p.example")
    ).dataset(type("Caller", (), {"did": "did:web:c.example"})(), "a")
    assert schema_errors(dataset, "Dataset") == []
    offer = dataset["hasPolicy"][0]
    constraints = offer["permission"][0]["constraint"]
    assert constraints[0]["rightOperand"] == {"@value": 10}
    assert constraints[1]["or"][1]["rightOperand"] == {"@value": 3}
    # The consumer reads the same policy the provider stored.
    assert describe_policy(offer) == describe_policy(counted)
    first = parse_policy(offer).permissions[0].constraints[0]
    assert isinstance(first, AtomicConstraint)
    assert first.right_operand == 10
