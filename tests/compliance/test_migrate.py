"""Gaia-X 22.10 credentials migrated to 25.11: verified first, mapped, checked by the shapes.

The 22.10 credentials are built and signed here the way the Gaia-X 22.10 signer tools did
(JsonWebSignature2020, the hex SHA-256 of the URDNA2015 document as the detached payload).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hansa.cli.main import app
from hansa.compliance.migrate import (
    TRUSTFRAMEWORK_2210,
    migrate,
    migrate_credential,
    policy_language,
)
from hansa.compliance.shapes import ShapeValidator
from hansa.errors import BadRequest, NotFound
from hansa.identity.did import DidDocument, did_key_from_key, verification_method_entry
from hansa.identity.jsonld import canonicalize
from hansa.identity.keys import PrivateKey, b64url, b64url_decode, generate_private_key, sign

VC1 = "https://www.w3.org/2018/credentials/v1"
JWS2020 = "https://w3id.org/security/suites/jws-2020/v1"
CONTEXT = [VC1, JWS2020, TRUSTFRAMEWORK_2210]
ISSUER = "did:web:provider.example"
NOTARY = "did:web:notary.example"
BASE = "https://provider.example/2210"


class Resolver:
    def __init__(self) -> None:
        self.documents: dict[str, DidDocument] = {}
        self.keys: dict[str, PrivateKey] = {}

    def add(self, did: str) -> None:
        key = generate_private_key("Ed25519")
        entry = verification_method_entry(did, "JWK2020", key)
        self.keys[did] = key
        self.documents[did] = {
            "@context": ["https://www.w3.org/ns/did/v1", JWS2020],
            "id": did,
            "verificationMethod": [entry],
            "assertionMethod": [entry["id"]],
        }

    def resolve(self, did: str) -> DidDocument:
        if did not in self.documents:
            raise NotFound(f"no DID document for {did}", code="did.not_found")
        return self.documents[did]

    def sign_2210(self, document: dict[str, Any]) -> dict[str, Any]:
        did = document["issuer"]
        return sign_2210(document, self.keys[did], f"{did}#JWK2020")


def sign_2210(document: dict[str, Any], key: PrivateKey, method: str) -> dict[str, Any]:
    """Sign as the Gaia-X 22.10 tools did: hex SHA-256 of the canonical document."""
    header = b64url(json.dumps({"alg": "EdDSA", "b64": False, "crit": ["b64"]}).encode())
    payload = hashlib.sha256(canonicalize(document).encode()).hexdigest().encode()
    signature = sign(key, header.encode() + b"." + payload)
    proof = {
        "type": "JsonWebSignature2020",
        "created": "2023-07-11T08:56:08.870Z",
        "proofPurpose": "assertionMethod",
        "verificationMethod": method,
        "jws": f"{header}..{b64url(signature)}",
    }
    return {**document, "proof": proof}


@pytest.fixture
def resolver() -> Resolver:
    resolver = Resolver()
    resolver.add(ISSUER)
    resolver.add(NOTARY)
    return resolver


def _vc(name: str, issuer: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": list(CONTEXT),
        "type": ["VerifiableCredential"],
        "id": f"{BASE}/{name}.json",
        "issuer": issuer,
        "issuanceDate": "2023-07-11T08:56:08.870Z",
        "credentialSubject": {"id": f"{BASE}/{name}.json#cs", **subject},
    }


def participant() -> dict[str, Any]:
    return _vc(
        "participant",
        ISSUER,
        {
            "type": "gx:LegalParticipant",
            "gx:legalName": "Acme Mobility GmbH",
            "gx:legalRegistrationNumber": {"id": f"{BASE}/lrn.json#cs"},
            "gx:headquarterAddress": {"gx:countrySubdivisionCode": "DE-HH"},
            "gx:legalAddress": {"gx:countrySubdivisionCode": "DE-HH"},
            "gx-terms-and-conditions:gaiaxTermsAndConditions": "70c1d713215f95191a11d38fe2341f"
            "aec2d9a6ca4e4ec3da4f7aa5e9c6f5ecd8",
        },
    )


def registration_number() -> dict[str, Any]:
    return _vc(
        "lrn",
        NOTARY,
        {
            "type": "gx:legalRegistrationNumber",
            "gx:vatID": "DE129273398",
            "gx:vatID-countryCode": "DE",
            "gx:leiCode": "529900T8BM49AURSDO55",
        },
    )


def service_offering() -> dict[str, Any]:
    return _vc(
        "offering",
        ISSUER,
        {
            "type": "gx:ServiceOffering",
            "gx:providedBy": {"id": f"{BASE}/participant.json#cs"},
            "gx:name": "Hamburg traffic counts",
            "gx:policy": json.dumps(
                {"@context": "http://www.w3.org/ns/odrl.jsonld", "permission": [{"action": "use"}]}
            ),
            "gx:termsAndConditions": {
                "gx:URL": "https://provider.example/terms.pdf",
                "gx:hash": "a" * 64,
            },
            "gx:dataAccountExport": {
                "gx:requestType": "API",
                "gx:accessType": "digital",
                "gx:formatType": "application/json",
            },
            "gx:dataProtectionRegime": ["GDPR2016"],
        },
    )


def terms() -> dict[str, Any]:
    return _vc(
        "tandc",
        ISSUER,
        {"type": "gx:GaiaXTermsAndConditions", "gx:termsAndConditions": "The PARTICIPANT ..."},
    )


def test_participant_registration_and_offering_migrate_and_pass_the_shapes(
    resolver: Resolver,
) -> None:
    signed = [
        resolver.sign_2210(c) for c in (participant(), registration_number(), service_offering())
    ]
    results = [migrate_credential(c, resolver) for c in signed]
    credentials = [r.credential for r in results if r.credential is not None]
    assert len(credentials) == 3
    pairs = [(str(c["id"]), c) for c in credentials]
    assert ShapeValidator.builtin().validate(pairs) == []

    person, number, offering = credentials
    assert person["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://w3id.org/gaia-x/development#",
    ]
    assert person["validFrom"] == "2023-07-11T08:56:08Z"
    subject = person["credentialSubject"]
    assert subject["type"] == "gx:LegalPerson"
    assert subject["name"] == "Acme Mobility GmbH"
    assert subject["gx:legalAddress"]["gx:countryCode"] == "DE"
    assert subject["gx:registrationNumber"] == [{"id": f"{BASE}/lrn.json#cs"}]
    assert number["credentialSubject"]["gx:vatID"] == "DE129273398"
    assert number["credentialSubject"]["type"] == "gx:VatID"
    policy = offering["credentialSubject"]["gx:servicePolicy"][0]
    assert policy["gx:policyLanguage"] == "ODRL"
    assert offering["credentialSubject"]["gx:serviceOfferingTermsAndConditions"][0]["gx:url"] == {
        "@value": "https://provider.example/terms.pdf",
        "@type": "xsd:anyURI",
    }
    assert results[0].verification_method == f"{ISSUER}#JWK2020"

    # What 25.11 cannot carry is reported, each with its JSON pointer.
    pointers = {w.pointer for r in results for w in r.warnings}
    assert "/credentialSubject/gx:headquarterAddress/gx:countrySubdivisionCode" in pointers
    assert "/credentialSubject/gx-terms-and-conditions:gaiaxTermsAndConditions" in pointers
    assert "/credentialSubject/gx:leiCode" in pointers


def test_a_presentation_migrates_credential_by_credential(resolver: Resolver) -> None:
    presentation = {
        "@context": [VC1],
        "type": "VerifiablePresentation",
        "verifiableCredential": [
            resolver.sign_2210(participant()),
            resolver.sign_2210(terms()),
        ],
    }
    person, tandc = migrate(presentation, resolver)
    assert person.credential is not None
    assert tandc.credential is None
    assert [w.pointer for w in tandc.warnings] == ["/verifiableCredential/1/credentialSubject"]
    assert any(
        w.pointer.startswith("/verifiableCredential/0/credentialSubject/") for w in person.warnings
    )


def test_a_tampered_proof_is_refused(resolver: Resolver) -> None:
    signed = resolver.sign_2210(participant())
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["gx:legalName"] = "Someone Else GmbH"
    with pytest.raises(BadRequest) as refused:
        migrate_credential(tampered, resolver)
    assert refused.value.code == "vc.signature_invalid"
    assert refused.value.pointer == "/proof/jws"


def test_a_tampered_credential_in_a_presentation_is_refused_with_its_place(
    resolver: Resolver,
) -> None:
    tampered = resolver.sign_2210(service_offering())
    tampered["credentialSubject"]["gx:name"] = "changed"
    presentation = {
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [resolver.sign_2210(participant()), tampered],
    }
    with pytest.raises(BadRequest) as refused:
        migrate(presentation, resolver)
    assert refused.value.code == "vc.signature_invalid"
    assert refused.value.pointer == "/verifiableCredential/1/proof/jws"


def test_an_unsigned_credential_is_refused(resolver: Resolver) -> None:
    with pytest.raises(BadRequest) as refused:
        migrate_credential(participant(), resolver)
    assert refused.value.code == "vc.proof_missing"


def test_a_type_without_mapping_is_refused(resolver: Resolver) -> None:
    credential = _vc("resource", ISSUER, {"type": "gx:PhysicalResource"})
    with pytest.raises(BadRequest) as refused:
        migrate_credential(resolver.sign_2210(credential), resolver)
    assert refused.value.code == "migrate.unsupported_type"
    assert refused.value.pointer == "/credentialSubject/type"


def test_a_bad_subdivision_code_is_refused_where_it_is(resolver: Resolver) -> None:
    credential = participant()
    credential["credentialSubject"]["gx:legalAddress"] = {"gx:countrySubdivisionCode": "XX-99"}
    with pytest.raises(BadRequest) as refused:
        migrate_credential(resolver.sign_2210(credential), resolver)
    assert refused.value.code == "gx.invalid_subdivision_code"
    assert refused.value.pointer == "/credentialSubject/gx:legalAddress/gx:countrySubdivisionCode"


def test_missing_required_22_10_properties_are_refused(resolver: Resolver) -> None:
    credential = service_offering()
    del credential["credentialSubject"]["gx:termsAndConditions"]
    with pytest.raises(BadRequest) as refused:
        migrate_credential(resolver.sign_2210(credential), resolver)
    assert refused.value.code == "migrate.invalid_credential"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ('{"permission": []}', "ODRL"),
        ("package gaiax.policy\nallow := true", "Rego"),
        ('{"allow": true}', "JSON"),
        ("free text", "Other"),
    ],
)
def test_policy_language_is_detected(text: str, language: str) -> None:
    assert policy_language(text) == language


def _did_key_presentation(*credentials: dict[str, Any]) -> dict[str, Any]:
    """The credentials issued by one did:key (resolved offline by any node), in a 22.10 VP."""
    key = generate_private_key("Ed25519")
    did = did_key_from_key(key)
    signed = []
    for credential in credentials:
        text = json.dumps(credential).replace(ISSUER, did).replace(NOTARY, did)
        signed.append(sign_2210(json.loads(text), key, f"{did}#{did.removeprefix('did:key:')}"))
    return {"@context": [VC1], "type": ["VerifiablePresentation"], "verifiableCredential": signed}


def _hansa(tmp_path: Path, *args: str) -> Any:
    env = {"HANSA_BASE_URL": "https://migrator.example.eu"}
    return CliRunner().invoke(app, ["--data-dir", str(tmp_path), "gx", "migrate", *args], env=env)


def test_cli_migrates_a_presentation_and_signs_it(tmp_path: Path) -> None:
    source = tmp_path / "vp-2210.json"
    vp = _did_key_presentation(participant(), registration_number(), service_offering(), terms())
    source.write_text(json.dumps(vp), encoding="utf-8")
    result = _hansa(tmp_path, str(source))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["credentials"]) == 3
    assert report["violations"] == []
    assert "/verifiableCredential/3/credentialSubject" in {w["pointer"] for w in report["warnings"]}

    CliRunner().invoke(app, ["--data-dir", str(tmp_path), "keys", "create"])
    signed = _hansa(tmp_path, str(source), "--sign", "--out", str(tmp_path / "out.json"))
    assert signed.exit_code == 0, signed.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    tokens = written["credentials"]
    payload = json.loads(b64url_decode(tokens[2].split(".")[1]))
    assert payload["issuer"] == "did:web:migrator.example.eu"
    assert payload["credentialSubject"]["type"] == "gx:ServiceOffering"
    replaced = [w["pointer"] for w in written["warnings"] if "replaced" in w["message"]]
    assert replaced == [f"/verifiableCredential/{i}/issuer" for i in range(3)]


def test_cli_reports_shape_violations_of_a_lone_offering(tmp_path: Path) -> None:
    source = tmp_path / "offering.json"
    source.write_text(json.dumps(_did_key_presentation(service_offering())), encoding="utf-8")
    result = _hansa(tmp_path, str(source))
    assert result.exit_code == 1
    violations = json.loads(result.stdout)["violations"]
    assert [v["path"] for v in violations] == ["/credentialSubject/gx:providedBy"]


def test_cli_refuses_a_tampered_credential(tmp_path: Path) -> None:
    vp = _did_key_presentation(participant())
    vp["verifiableCredential"][0]["credentialSubject"]["gx:legalName"] = "Other"
    source = tmp_path / "tampered.json"
    source.write_text(json.dumps(vp), encoding="utf-8")
    result = _hansa(tmp_path, str(source))
    assert result.exit_code == 1
    assert "vc.signature_invalid" in result.stderr
    assert "/verifiableCredential/0/proof/jws" in result.stderr
