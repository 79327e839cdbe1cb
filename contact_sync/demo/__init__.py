"""The guided demo behind `contact-sync demo`: a fresh folder with simulators, a seeded CRM and Genesys org, and the
guide's migration path run through Dagster, step by step (`contact_sync.demo.walkthrough`)."""

from contact_sync.demo.walkthrough import DemoError, DemoFolder, Section, Walkthrough

__all__ = ["DemoError", "DemoFolder", "Section", "Walkthrough"]
