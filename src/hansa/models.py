"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic)."""

from __future__ import annotations

import hansa.catalogue.models  # noqa: F401
import hansa.catalogue.peer_models
import hansa.compliance.models  # noqa: F401
import hansa.connector.models
import hansa.connector.process_models
import hansa.connector.provider_models
import hansa.connector.transfer_models
import hansa.dataplane.models
import hansa.identity.models  # noqa: F401
