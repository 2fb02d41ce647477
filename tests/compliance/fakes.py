"""Local stand-ins for VIES, GLEIF and the EU EORI service: real HTTP servers on 127.0.0.1.

Each speaks its registry's real protocol (the VIES REST API's JSON, GLEIF's JSON:API, the
EOS service's SOAP 1.1), with the registry's data given by the test.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree import ElementTree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
EORI_NS = "http://eori.ws.eos.dds.s/"

# (method, path, headers, body) -> (status, content type, body)
Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, str, bytes]]


@dataclass
class FakeServer:
    """A running fake: its base URL and the requests it saw."""

    base_url: str
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def serve(handle: Handler) -> Iterator[FakeServer]:
    """Run ``handle`` behind a real HTTP server on 127.0.0.1 until the block ends."""
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    class RequestHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append((self.command, self.path, headers, body))
            status, content_type, answer = handle(self.command, self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield FakeServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def unused_port_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _json(
    status: int, value: Any, content_type: str = "application/json"
) -> tuple[int, str, bytes]:
    return status, content_type, json.dumps(value).encode()


# --- VIES ------------------------------------------------------------------------------------


@dataclass
class ViesRegistry:
    """VAT numbers VIES knows (``"DE136695976": ("Name", "Address")``) and its member-state
    troubles (``{"DE": "MS_UNAVAILABLE"}``)."""

    known: dict[str, tuple[str, str]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        if method != "POST" or path != "/check-vat-number":
            return _json(404, {"error": "not found"})
        request = json.loads(body)
        country, number = request["countryCode"], request["vatNumber"]
        if country in self.unavailable:
            return _json(
                500,
                {
                    "actionSucceed": False,
                    "errorWrappers": [
                        {"error": self.unavailable[country], "message": "member state down"}
                    ],
                },
            )
        known = self.known.get(f"{country}{number}")
        return _json(
            200,
            {
                "countryCode": country,
                "vatNumber": number,
                "requestDate": "2026-11-27T10:00:00.000Z",
                "valid": known is not None,
                "requestIdentifier": "",
                "name": known[0] if known else "---",
                "address": known[1] if known else "---",
                "traderName": "---",
                "traderStreet": "---",
                "userError": "VALID" if known else "INVALID",
            },
        )


# --- GLEIF -----------------------------------------------------------------------------------


def lei_record(
    lei: str,
    *,
    name: str,
    country: str,
    region: str | None = None,
    headquarters: str | None = None,
    registration_status: str = "ISSUED",
    entity_status: str = "ACTIVE",
) -> dict[str, Any]:
    """A GLEIF ``lei-records`` JSON:API document (the fields the notary reads, and some)."""
    return {
        "meta": {"goldenCopy": {"publishDate": "2026-11-27T08:00:00Z"}},
        "data": {
            "type": "lei-records",
            "id": lei,
            "attributes": {
                "lei": lei,
                "entity": {
                    "legalName": {"name": name, "language": "de"},
                    "legalAddress": {
                        "language": "de",
                        "addressLines": ["Musterstraße 1"],
                        "city": "München",
                        "region": region,
                        "country": country,
                        "postalCode": "80331",
                    },
                    "headquartersAddress": {
                        "language": "de",
                        "addressLines": ["Musterstraße 1"],
                        "city": "München",
                        "region": region,
                        "country": headquarters or country,
                        "postalCode": "80331",
                    },
                    "status": entity_status,
                },
                "registration": {
                    "initialRegistrationDate": "2014-01-01T00:00:00Z",
                    "status": registration_status,
                    "nextRenewalDate": "2027-01-01T00:00:00Z",
                },
            },
            "links": {"self": f"https://api.gleif.org/api/v1/lei-records/{lei}"},
        },
    }


@dataclass
class GleifRegistry:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        prefix = "/api/v1/lei-records/"
        lei = path.removeprefix(prefix)
        if method == "GET" and path.startswith(prefix) and lei in self.records:
            return _json(200, self.records[lei], "application/vnd.api+json")
        return _json(
            404, {"errors": [{"status": "404", "title": "Not Found"}]}, "application/vnd.api+json"
        )


# --- EORI (SOAP) -----------------------------------------------------------------------------


@dataclass
class EoriRegistry:
    """EORI numbers the EOS service knows (``{"DE1234567": "Trader GmbH"}``)."""

    known: dict[str, str] = field(default_factory=dict)
    fault: str | None = None

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        if self.fault is not None:
            return (
                500,
                "text/xml;charset=utf-8",
                (
                    f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="{SOAP_NS}">'
                    f"<S:Body><S:Fault><faultcode>S:Server</faultcode>"
                    f"<faultstring>{self.fault}</faultstring></S:Fault></S:Body></S:Envelope>"
                ).encode(),
            )
        request = ElementTree.fromstring(body)
        asked = [e.text or "" for e in request.iter(f"{{{EORI_NS}}}eori")]
        results = []
        for eori in asked:
            name = self.known.get(eori)
            details = (
                f"<name>{name}</name><address>Musterstraße 1</address>"
                f"<street>Musterstraße 1</street><postalCode>80331</postalCode>"
                f"<city>München</city><country>DE</country>"
                if name
                else ""
            )
            status = "0" if name else "1"
            description = "Valid" if name else "Not valid"
            results.append(
                f"<result><eori>{eori}</eori><status>{status}</status>"
                f"<statusDescr>{description}</statusDescr>{details}</result>"
            )
        answer = (
            f"<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S=\"{SOAP_NS}\"><S:Body>"
            f'<ns0:validateEORIResponse xmlns:ns0="{EORI_NS}"><return>'
            f"<requestDate>27/11/2026</requestDate>{''.join(results)}</return>"
            f"</ns0:validateEORIResponse></S:Body></S:Envelope>"
        )
        return 200, "text/xml;charset=utf-8", answer.encode()
