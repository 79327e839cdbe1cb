"""contact-sync: CRM <-> Genesys Cloud external contact sync, as a Dagster code location."""

__version__ = "0.1.0"
