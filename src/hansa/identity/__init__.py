"""Identity: keys, wallet, DIDs, credentials and presentations, status lists, trust anchors."""
