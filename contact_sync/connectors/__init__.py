"""Connectors: one module per outside system (Salesforce, Genesys Cloud) plus the HTTP behaviour they share.

Connectors speak the services' wire formats and hand back plain data (raw API records, write results); turning
records into canonical frames is the sync package's job.
"""
