"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic)."""

# The imports register tables; nothing else uses their names.
# ruff: noqa: F401

from __future__ import annotations

import hansa.catalogue.models
import hansa.catalogue.peer_models
import hansa.compliance.models
import hansa.connector.models
import hansa.connector.process_models
import hansa.connector.provider_models
import hansa.connector.transfer_models
import hansa.dataplane.models
import hansa.identity.models
