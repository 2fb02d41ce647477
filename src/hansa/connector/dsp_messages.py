"""Builders for every Dataspace Protocol 2025-1 message, as plain JSON-compatible dicts.

Each top-level builder returns a message in the compact form the DSP schemas expect,
with ``@context`` set to the DSP 2025-1 context (bundled as
``hansa/identity/contexts/dspace-2025-1.jsonld``). Builders check what the schemas
cannot express in their arguments (exactly one of two alternatives, aware timestamps)
and raise ``ValueError`` for a programming mistake; content that came from elsewhere
(an offer read from the catalogue) is checked by ``validate_message`` before sending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from hansa.connector.dsp_schemas import DSP_CONTEXT
from hansa.errors import HansaError

JsonObject = dict[str, Any]
DSP_VERSION = "2025-1"
VERSION_METADATA_PATH = "/.well-known/dspace-version"

NegotiationStateName = Literal[
    "REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED", "TERMINATED"
]
TransferStateName = Literal["REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED"]


def _message(message_type: str, **fields: Any) -> JsonObject:
    message: JsonObject = {"@context": [DSP_CONTEXT], "@type": message_type}
    message.update({key: value for key, value in fields.items() if value is not None})
    return message


def _reason(reason: str | Sequence[Any] | None) -> list[Any] | None:
    # The schemas want a non-empty array; a single sentence is the common case.
    if reason is None:
        return None
    items = [reason] if isinstance(reason, str) else list(reason)
    return items or None


def _pids(provider_pid: str, consumer_pid: str) -> JsonObject:
    return {"providerPid": provider_pid, "consumerPid": consumer_pid}


def xsd_datetime(moment: datetime) -> str:
    """An aware datetime as an XSD dateTime in UTC, to the second (``2026-05-01T12:00:00Z``)."""
    if moment.tzinfo is None:
        raise ValueError("agreement timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- policies ---------------------------------------------------------------------


def _policy(
    policy_type: str,
    policy_id: str,
    *,
    permission: Iterable[Mapping[str, Any]] | None,
    prohibition: Iterable[Mapping[str, Any]] | None,
    obligation: Iterable[Mapping[str, Any]] | None,
    profile: str | Sequence[str] | None,
) -> JsonObject:
    policy: JsonObject = {"@id": policy_id, "@type": policy_type}
    if profile is not None:
        policy["profile"] = profile if isinstance(profile, str) else list(profile)
    for name, rules in (
        ("permission", permission),
        ("prohibition", prohibition),
        ("obligation", obligation),
    ):
        if rules is not None and (items := [dict(rule) for rule in rules]):
            policy[name] = items
    if "permission" not in policy and "prohibition" not in policy:
        raise ValueError(f"an {policy_type} needs at least one permission or prohibition")
    return policy


def offer(
    offer_id: str,
    *,
    permission: Iterable[Mapping[str, Any]] | None = None,
    prohibition: Iterable[Mapping[str, Any]] | None = None,
    obligation: Iterable[Mapping[str, Any]] | None = None,
    target: str | None = None,
    profile: str | Sequence[str] | None = None,
) -> JsonObject:
    """An ODRL Offer. Give ``target`` in negotiation messages, never inside a Dataset."""
    policy = _policy(
        "Offer",
        offer_id,
        permission=permission,
        prohibition=prohibition,
        obligation=obligation,
        profile=profile,
    )
    if target is not None:
        policy["target"] = target
    return policy


def agreement(
    agreement_id: str,
    *,
    target: str,
    assigner: str,
    assignee: str,
    timestamp: datetime,
    permission: Iterable[Mapping[str, Any]] | None = None,
    prohibition: Iterable[Mapping[str, Any]] | None = None,
    obligation: Iterable[Mapping[str, Any]] | None = None,
    profile: str | Sequence[str] | None = None,
) -> JsonObject:
    """An ODRL Agreement between ``assigner`` (provider) and ``assignee`` (consumer)."""
    policy = _policy(
        "Agreement",
        agreement_id,
        permission=permission,
        prohibition=prohibition,
        obligation=obligation,
        profile=profile,
    )
    policy.update(
        target=target, assigner=assigner, assignee=assignee, timestamp=xsd_datetime(timestamp)
    )
    return policy


def rule(action: str, *constraints: Mapping[str, Any]) -> JsonObject:
    """A permission, prohibition or duty: an action and its constraints."""
    entry: JsonObject = {"action": action}
    if constraints:
        entry["constraint"] = [dict(item) for item in constraints]
    return entry


def constraint(left_operand: str, operator: str, right_operand: Any) -> JsonObject:
    """An atomic ODRL constraint in DSP compact form."""
    return {"leftOperand": left_operand, "operator": operator, "rightOperand": right_operand}


# --- catalog ----------------------------------------------------------------------


def catalog_request_message(filter: Sequence[Any] | None = None) -> JsonObject:
    """CatalogRequestMessage; ``filter`` is implementation-specific and optional."""
    return _message("CatalogRequestMessage", filter=list(filter) if filter is not None else None)


def dataset_request_message(dataset_id: str) -> JsonObject:
    """DatasetRequestMessage for one dataset."""
    return _message("DatasetRequestMessage", dataset=dataset_id)


def data_service(service_id: str, endpoint_url: str, **extra: Any) -> JsonObject:
    """A DataService: the connector endpoint that serves datasets."""
    return {"@id": service_id, "@type": "DataService", "endpointURL": endpoint_url, **extra}


def distribution(
    format: str,
    access_service: str | Mapping[str, Any],
    *,
    offers: Iterable[Mapping[str, Any]] | None = None,
) -> JsonObject:
    """A Distribution: how a dataset is delivered (e.g. ``HttpData-PULL``) and by whom."""
    entry: JsonObject = {
        "@type": "Distribution",
        "format": format,
        "accessService": access_service
        if isinstance(access_service, str)
        else dict(access_service),
    }
    if offers is not None and (items := [dict(item) for item in offers]):
        entry["hasPolicy"] = items
    return entry


def dataset(
    dataset_id: str,
    *,
    offers: Iterable[Mapping[str, Any]],
    distributions: Iterable[Mapping[str, Any]],
    root: bool = True,
    **extra: Any,
) -> JsonObject:
    """A Dataset with its offers (``hasPolicy``) and distributions.

    ``root`` adds ``@context`` (the answer to a DatasetRequestMessage); inside a
    Catalog, pass ``root=False``. ``extra`` carries DCAT terms such as ``title``.
    """
    offer_list = [dict(item) for item in offers]
    if any("target" in item for item in offer_list):
        raise ValueError("offers inside a Dataset must not have a target")
    entry: JsonObject = {"@id": dataset_id, "@type": "Dataset", **extra}
    entry["hasPolicy"] = offer_list
    entry["distribution"] = [dict(item) for item in distributions]
    if root:
        return {"@context": [DSP_CONTEXT], **entry}
    return entry


def catalog(
    catalog_id: str,
    *,
    participant_id: str,
    datasets: Iterable[Mapping[str, Any]] = (),
    services: Iterable[Mapping[str, Any]] = (),
    catalogs: Iterable[Mapping[str, Any]] = (),
    **extra: Any,
) -> JsonObject:
    """The Catalog answered to a CatalogRequestMessage (empty lists are left out)."""
    message = _message("Catalog")
    message.update({"@id": catalog_id, "participantId": participant_id, **extra})
    for name, items in (("dataset", datasets), ("service", services), ("catalog", catalogs)):
        entries = [{k: v for k, v in item.items() if k != "@context"} for item in items]
        if entries:
            message[name] = entries
    return message


def catalog_error(code: str | None = None, reason: str | Sequence[Any] | None = None) -> JsonObject:
    """CatalogError: the body of a failed catalog request."""
    return _message("CatalogError", code=code, reason=_reason(reason))


# --- contract negotiation ---------------------------------------------------------


def contract_request_message(
    *,
    consumer_pid: str,
    offer: Mapping[str, Any],
    callback_address: str | None = None,
    provider_pid: str | None = None,
) -> JsonObject:
    """ContractRequestMessage: initiating (with ``callback_address``) or a counter-offer
    on an existing negotiation (with ``provider_pid``) — exactly one of the two."""
    if (callback_address is None) == (provider_pid is None):
        raise ValueError(
            "give callback_address for an initiating request or provider_pid for a "
            "counter-offer, exactly one"
        )
    return _message(
        "ContractRequestMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        offer=dict(offer),
        callbackAddress=callback_address,
    )


def contract_offer_message(
    *,
    provider_pid: str,
    offer: Mapping[str, Any],
    consumer_pid: str | None = None,
    callback_address: str | None = None,
) -> JsonObject:
    """ContractOfferMessage: initiating (with ``callback_address``) or a counter-offer
    on an existing negotiation (with ``consumer_pid``) — exactly one of the two."""
    if (callback_address is None) == (consumer_pid is None):
        raise ValueError(
            "give callback_address for an initiating offer or consumer_pid for a "
            "counter-offer, exactly one"
        )
    return _message(
        "ContractOfferMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        offer=dict(offer),
        callbackAddress=callback_address,
    )


def contract_agreement_message(
    *, provider_pid: str, consumer_pid: str, agreement: Mapping[str, Any]
) -> JsonObject:
    """ContractAgreementMessage: the provider sends the complete Agreement."""
    return _message(
        "ContractAgreementMessage", **_pids(provider_pid, consumer_pid), agreement=dict(agreement)
    )


def contract_agreement_verification_message(*, provider_pid: str, consumer_pid: str) -> JsonObject:
    """ContractAgreementVerificationMessage: the consumer verifies the Agreement."""
    return _message("ContractAgreementVerificationMessage", **_pids(provider_pid, consumer_pid))


def contract_negotiation_event_message(
    *, provider_pid: str, consumer_pid: str, event_type: Literal["ACCEPTED", "FINALIZED"]
) -> JsonObject:
    """ContractNegotiationEventMessage: ACCEPTED (consumer) or FINALIZED (provider)."""
    if event_type not in ("ACCEPTED", "FINALIZED"):
        raise ValueError(f"event_type is ACCEPTED or FINALIZED, not {event_type!r}")
    return _message(
        "ContractNegotiationEventMessage",
        **_pids(provider_pid, consumer_pid),
        eventType=event_type,
    )


def contract_negotiation_termination_message(
    *,
    provider_pid: str,
    consumer_pid: str,
    code: str | None = None,
    reason: str | Sequence[Any] | None = None,
) -> JsonObject:
    """ContractNegotiationTerminationMessage, with an optional code and reason."""
    return _message(
        "ContractNegotiationTerminationMessage",
        **_pids(provider_pid, consumer_pid),
        code=code,
        reason=_reason(reason),
    )


def contract_negotiation(
    *, provider_pid: str, consumer_pid: str, state: NegotiationStateName | str
) -> JsonObject:
    """ContractNegotiation: the process object, the ACK of every negotiation message."""
    return _message("ContractNegotiation", **_pids(provider_pid, consumer_pid), state=str(state))


def contract_negotiation_error(
    *,
    provider_pid: str,
    consumer_pid: str,
    code: str | None = None,
    reason: str | Sequence[Any] | None = None,
) -> JsonObject:
    """ContractNegotiationError: the body of a 4xx answer to a negotiation message."""
    return _message(
        "ContractNegotiationError",
        **_pids(provider_pid, consumer_pid),
        code=code,
        reason=_reason(reason),
    )


# --- transfer process -------------------------------------------------------------


def data_address(
    endpoint_type: str,
    *,
    endpoint: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> JsonObject:
    """A DataAddress; ``properties`` become EndpointProperty entries (e.g. authorization)."""
    address: JsonObject = {"@type": "DataAddress", "endpointType": endpoint_type}
    if endpoint is not None:
        address["endpoint"] = endpoint
    if properties:
        address["endpointProperties"] = [
            {"@type": "EndpointProperty", "name": name, "value": value}
            for name, value in properties.items()
        ]
    return address


def transfer_request_message(
    *,
    consumer_pid: str,
    agreement_id: str,
    format: str,
    callback_address: str,
    data_address: Mapping[str, Any] | None = None,
) -> JsonObject:
    """TransferRequestMessage; ``data_address`` only for push transfers."""
    return _message(
        "TransferRequestMessage",
        consumerPid=consumer_pid,
        agreementId=agreement_id,
        format=format,
        dataAddress=dict(data_address) if data_address is not None else None,
        callbackAddress=callback_address,
    )


def transfer_start_message(
    *, provider_pid: str, consumer_pid: str, data_address: Mapping[str, Any] | None = None
) -> JsonObject:
    """TransferStartMessage; ``data_address`` tells a pull consumer where to fetch."""
    return _message(
        "TransferStartMessage",
        **_pids(provider_pid, consumer_pid),
        dataAddress=dict(data_address) if data_address is not None else None,
    )


def transfer_suspension_message(
    *,
    provider_pid: str,
    consumer_pid: str,
    code: str | None = None,
    reason: str | Sequence[Any] | None = None,
) -> JsonObject:
    """TransferSuspensionMessage, with an optional code and reason."""
    return _message(
        "TransferSuspensionMessage",
        **_pids(provider_pid, consumer_pid),
        code=code,
        reason=_reason(reason),
    )


def transfer_completion_message(*, provider_pid: str, consumer_pid: str) -> JsonObject:
    """TransferCompletionMessage."""
    return _message("TransferCompletionMessage", **_pids(provider_pid, consumer_pid))


def transfer_termination_message(
    *,
    provider_pid: str,
    consumer_pid: str,
    code: str | None = None,
    reason: str | Sequence[Any] | None = None,
) -> JsonObject:
    """TransferTerminationMessage, with an optional code and reason."""
    return _message(
        "TransferTerminationMessage",
        **_pids(provider_pid, consumer_pid),
        code=code,
        reason=_reason(reason),
    )


def transfer_process(
    *, provider_pid: str, consumer_pid: str, state: TransferStateName | str
) -> JsonObject:
    """TransferProcess: the process object, the ACK of every transfer message."""
    return _message("TransferProcess", **_pids(provider_pid, consumer_pid), state=str(state))


def transfer_error(
    *,
    provider_pid: str,
    consumer_pid: str,
    code: str | None = None,
    reason: str | Sequence[Any] | None = None,
) -> JsonObject:
    """TransferError: the body of a 4xx answer to a transfer message."""
    return _message(
        "TransferError", **_pids(provider_pid, consumer_pid), code=code, reason=_reason(reason)
    )


# --- errors from Hansa errors -----------------------------------------------------


def negotiation_error_for(error: HansaError, *, provider_pid: str, consumer_pid: str) -> JsonObject:
    """The ContractNegotiationError body for a Hansa error (its code and detail)."""
    return contract_negotiation_error(
        provider_pid=provider_pid, consumer_pid=consumer_pid, code=error.code, reason=error.detail
    )


def transfer_error_for(error: HansaError, *, provider_pid: str, consumer_pid: str) -> JsonObject:
    """The TransferError body for a Hansa error (its code and detail)."""
    return transfer_error(
        provider_pid=provider_pid, consumer_pid=consumer_pid, code=error.code, reason=error.detail
    )


def catalog_error_for(error: HansaError) -> JsonObject:
    """The CatalogError body for a Hansa error (its code and detail)."""
    return catalog_error(code=error.code, reason=error.detail)


# --- version metadata -------------------------------------------------------------


def protocol_version(
    path: str,
    *,
    version: str = DSP_VERSION,
    binding: str = "HTTPS",
    service_id: str | None = None,
    identifier_type: str | None = None,
    auth: Mapping[str, Any] | None = None,
) -> JsonObject:
    """One entry of the version metadata: where a DSP version's endpoints live.

    For DCP authentication pass ``auth={"protocol": "DCP", "version": "1.0", ...}``.
    """
    entry: JsonObject = {"version": version, "path": path, "binding": binding}
    if service_id is not None:
        entry["serviceId"] = service_id
    if identifier_type is not None:
        entry["identifierType"] = identifier_type
    if auth is not None:
        entry["auth"] = dict(auth)
    return entry


def version_response(versions: Iterable[Mapping[str, Any]]) -> JsonObject:
    """The body of ``/.well-known/dspace-version`` (at least one version)."""
    entries = [dict(entry) for entry in versions]
    if not entries:
        raise ValueError("the version metadata lists at least one protocol version")
    return {"protocolVersions": entries}
