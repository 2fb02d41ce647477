"""The connector: Dataspace Protocol 2025-1 and DCP authentication."""
