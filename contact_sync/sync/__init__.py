"""Pure sync logic: canonical contacts, normalization, converters, policy, matching, merge, plans (no Dagster/HTTP)."""
