"""The federated catalogue: every compliant offering, verified, searchable, with a change feed."""
