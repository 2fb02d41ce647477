"""The composition root: ``create_app(settings)`` builds one node with the roles it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hansa import __version__
from hansa.node import Node
from hansa.settings import Settings
from hansa.web import BodyLimitMiddleware, install_error_handlers


def create_app(settings: Settings, node: Node | None = None) -> FastAPI:
    """An ASGI app serving ``settings.roles``; ``node`` may be given to share one in tests."""
    node = node or Node.open(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Background work runs while the app is served, and stops with it.
        node.start_workers()
        yield
        node.stop_workers()

    app = FastAPI(
        lifespan=lifespan,
        title=f"Hansa node {settings.name}",
        version=__version__,
        description="A Hansa node: identity, clearing house, catalogue and connector roles.",
    )
    app.state.settings = settings
    app.state.node = node
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)

    from hansa.identity.api import router as identity_router

    app.include_router(identity_router)
    if "clearing-house" in settings.roles:
        from hansa.compliance.api import router as compliance_router
        from hansa.compliance.notary_api import router as notary_router

        app.include_router(notary_router)
        app.include_router(compliance_router)
    if "connector" in settings.roles:
        from hansa.connector.catalog_api import router as dsp_catalog_router
        from hansa.connector.catalog_api import well_known_router as dspace_version_router
        from hansa.connector.dcp_api import router as dcp_router
        from hansa.connector.management_api import router as connector_management_router

        app.include_router(dcp_router)
        app.include_router(connector_management_router)
        app.include_router(dsp_catalog_router)
        app.include_router(dspace_version_router)

        from hansa.connector.negotiation_api import consumer_router, provider_router
        from hansa.connector.negotiation_management_api import router as negotiation_router

        app.include_router(provider_router)
        app.include_router(consumer_router)
        app.include_router(negotiation_router)

        from hansa.connector import transfer_api
        from hansa.connector.transfer_management_api import router as transfer_router
        from hansa.dataplane.server import data_router

        app.include_router(transfer_api.provider_router)
        app.include_router(transfer_api.consumer_router)
        app.include_router(transfer_router)
        if node.data_endpoint is not None:
            app.include_router(data_router(node.data_endpoint))
    if "catalogue" in settings.roles:
        from hansa.catalogue.api import router as catalogue_router

        app.include_router(catalogue_router)
    from hansa.policy.api import router as policy_router

    app.include_router(policy_router)
    return app
