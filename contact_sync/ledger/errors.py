"""The one exception the ledger raises for bad input or an unreachable database."""


class LedgerError(Exception):
    """Bad input to the ledger (unknown id, duplicate name, broken link) or a database it cannot use; one line."""
