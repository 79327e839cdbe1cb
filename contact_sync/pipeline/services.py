"""Open everything one run talks to (CRM adapter, Genesys connector, ledger, policy) from the environment.

The deployment is chosen by CONTACT_SYNC_DEPLOYMENT: `live` talks to the real services (missing credentials are a
one-line error, never a silent fallback), `simulated` to the built-in simulators, and `auto` (the default) to the
simulators only when neither the CRM nor Genesys is configured. The simulators start in-process on free loopback
ports, with their state kept under `<data_dir>/simulators` so one run after another (and `dagster dev`) sees the
same data; this is logged loudly and reported by `Services.simulated`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

from contact_sync.connectors.genesys import GenesysConnector
from contact_sync.crms import CRM_KINDS, crm_plugin
from contact_sync.crms.port import CrmAdapter
from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.genesys_adapter import GenesysAdapter
from contact_sync.settings import GenesysSettings
from contact_sync.sync.policy import SyncPolicy, load_policy

log = logging.getLogger(__name__)

GENESYS_CREDENTIAL_VARIABLES: Final = ("GENESYS_API_URL", "GENESYS_REGION", "GENESYS_CLIENT_ID")
SERVICE_PREFIXES: Final = ("GENESYS_", *(f"{kind.upper()}_" for kind in CRM_KINDS))
SIMULATOR_WARNING: Final = (
    "NO CRM OR GENESYS CREDENTIALS ARE SET: contact-sync is running against its BUILT-IN SIMULATORS "
    "(state in {state_dir}), not real services"
)


@dataclass
class Services:
    """The open connections of one run. Close with `close()` (or use `open_services` as a context manager)."""

    settings: PipelineSettings
    policy: SyncPolicy
    crm: CrmAdapter
    genesys: GenesysConnector
    ledger: Ledger
    simulated: bool = False
    """True when the built-in simulators stand in for the real services."""
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    @cached_property
    def genesys_adapter(self) -> GenesysAdapter:
        """Genesys write shapes and organization mapping for this run's policy and CRM."""
        return GenesysAdapter(self.genesys, self.crm, self.policy)

    def api_calls(self) -> dict[str, int]:
        """API calls so far, per system and endpoint: {"crm GET /...": n, "genesys POST /...": n}."""
        calls = {f"{self.crm.kind} {k}": v for k, v in self.crm.api_calls().items()}
        calls.update({f"genesys {k}": v for k, v in self.genesys.api_calls.as_dict().items()})
        return calls

    def close(self) -> None:
        self._stack.close()


def _configured(env: Mapping[str, str], names: tuple[str, ...]) -> bool:
    return any((env.get(name) or "").strip() for name in names)


@contextmanager
def open_services(
    settings: PipelineSettings | None = None,
    env: Mapping[str, str] | None = None,
    *,
    rate_limit: bool = True,
) -> Iterator[Services]:
    """Open the services a run uses, from `env` (default: the process environment); see the module docstring.

    `rate_limit=False` turns the Genesys client-side limiter off (benchmarks on the simulators)."""
    env = dict(os.environ if env is None else env)
    settings = settings or PipelineSettings.from_env(env)
    services = build_services(settings, env, rate_limit=rate_limit)
    try:
        yield services
    finally:
        services.close()


def check_configuration(env: Mapping[str, str] | None = None) -> PipelineSettings:
    """Everything a run needs that can be checked without calling a service: the settings, the policy file and, when
    credentials are set, the CRM's and Genesys's settings. Raises `SettingsError` or `PolicyError` in one line
    naming the variable, or the file, line, key and allowed values, before any call is made."""
    env = dict(os.environ if env is None else env)
    settings = PipelineSettings.from_env(env)
    plugin = crm_plugin(settings.crm)
    load_policy(settings.policy_path)
    if not uses_simulators(settings, env):
        plugin.check_settings(env)
        GenesysSettings.from_env(env)
    return settings


def uses_simulators(settings: PipelineSettings, env: Mapping[str, str]) -> bool:
    """Whether a run goes to the built-in simulators: always in the simulated deployment, never in the live one, and
    in `auto` only when neither the CRM nor Genesys has a credential variable set."""
    if settings.deployment != "auto":
        return settings.deployment == "simulated"
    plugin = crm_plugin(settings.crm)
    return not _configured(env, plugin.credential_variables) and not _configured(env, GENESYS_CREDENTIAL_VARIABLES)


def build_services(settings: PipelineSettings, env: Mapping[str, str], *, rate_limit: bool = True) -> Services:
    """Like `open_services`, for callers that manage the lifetime themselves (Dagster resources)."""
    env = dict(env)
    stack = ExitStack()
    try:
        simulated = False
        plugin = crm_plugin(settings.crm)
        if uses_simulators(settings, env):
            from contact_sync.simulators import run_simulators

            # Nothing of a real service's settings may mix with the simulators' (a password sent to one of them).
            for name in [k for k in env if k.startswith(SERVICE_PREFIXES)]:
                del env[name]

            state_dir = settings.data_dir / "simulators"
            state_dir.mkdir(parents=True, exist_ok=True)
            sims = stack.enter_context(
                # A demo or a trial, not a timing study: no rate limit, and contacts exports done in 0.1 s.
                run_simulators(
                    state_dir=state_dir, options={"genesys": {"rate_limit_per_minute": None, "export_delay_s": 0.1}}
                )
            )
            env.update(sims.env)
            simulated = True
            log.warning(SIMULATOR_WARNING.format(state_dir=state_dir))
        policy = load_policy(settings.policy_path)
        crm = plugin.build_adapter(env, policy)
        stack.callback(crm.close)
        genesys = GenesysConnector(GenesysSettings.from_env(env), rate_limit=rate_limit)
        stack.callback(genesys.close)
        ledger = stack.enter_context(Ledger.opened(settings.database_url))
    except BaseException:
        stack.close()
        raise
    return Services(
        settings=settings, policy=policy, crm=crm, genesys=genesys, ledger=ledger, simulated=simulated, _stack=stack
    )
