"""The local demo federation that ``hansa demo`` runs."""
