"""The connector: Dataspace Protocol state machines, authenticated by DCP (Decentralized Claims)."""
