"""CRM plug-ins: one package per CRM (`contact_sync.crms.<kind>`), each exporting a `PLUGIN` (`crms.plugin.CrmPlugin`),
and the one registry that names them. Every list of CRM kinds in the product (policy validation, the canonical
schemas, the ledger, the pipeline, the CLI and demo, asset kinds) comes from `CRM_KINDS` here.

Adding a CRM is one line in `CRM_PLUGIN_MODULES` plus its package. This module imports no plug-in until one is asked
for, so the pure layers (`sync`, `ledger`) can read `CRM_KINDS` without importing any connector or HTTP code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from contact_sync.settings import SettingsError

if TYPE_CHECKING:
    from contact_sync.crms.plugin import CrmPlugin
    from contact_sync.crms.port import CrmAdapter
    from contact_sync.sync.policy import SyncPolicy

CRM_PLUGIN_MODULES: Final = {
    "salesforce": "contact_sync.crms.salesforce",
    "dynamics": "contact_sync.crms.dynamics",
    "hubspot": "contact_sync.crms.hubspot",
}
"""CRM kind (the value of CONTACT_SYNC_CRM, the policy's and the ledger's name for it) -> its plug-in package."""

CRM_KINDS: Final = tuple(CRM_PLUGIN_MODULES)


def crm_plugin(kind: str) -> CrmPlugin:
    """The plug-in of CRM kind `kind`; an unknown kind is refused with the known ones named."""
    module = CRM_PLUGIN_MODULES.get(kind)
    if module is None:
        raise SettingsError(f"CONTACT_SYNC_CRM must be one of {', '.join(CRM_KINDS)}, got {kind!r}")
    plugin: CrmPlugin = importlib.import_module(module).PLUGIN
    return plugin


def crm_plugins() -> list[CrmPlugin]:
    """Every registered plug-in, in registry order."""
    return [crm_plugin(kind) for kind in CRM_KINDS]


def build_crm_adapter(kind: str, env: Mapping[str, str], policy: SyncPolicy) -> CrmAdapter:
    """The adapter of CRM kind `kind` from the environment (its settings checked before any call)."""
    return crm_plugin(kind).build_adapter(env, policy)
