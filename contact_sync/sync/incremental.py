"""The incremental engine: which records a run must decide, so its cost follows what changed.

Records are joined into components by everything that can make one record's outcome depend on another's: a
shared blocking key (``matching.candidate_keys``), a stored link, the CRM id in a Genesys contact's externalIds, a
merge into a survivor, a pair in the review queue's answers, and the component each record was in when it was last
decided. A run decides every component holding a *seed*: a record never decided, changed since (its fingerprint:
its canonical row, its stored link and its cohort membership), left unsettled by its last decision (anything was
written, held, reviewed or reported for it), gone from its snapshot, named by a pending decision or an unreadable
record. Every other component was decided whole, on the same records, with nothing to do, and a full decision
would find nothing to do there again; so the plan of the decided components equals the full plan
(``contact_sync_tests/sync/test_incremental.py`` proves it on random worlds and change sets).

A policy, mode or cohort other than the state's, or no state, decides everything (``how`` = "full").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from contact_sync.sync.matching import MatchResult, candidate_keys, unreadable_identities
from contact_sync.sync.plan import SyncPlan

STATE_COLUMNS: Final = ("system", "record_id", "fingerprint", "component", "settled")


@dataclass(frozen=True)
class DecisionState:
    """What the last decisions left: one row per record (system crm|genesys, record_id, fingerprint uint64,
    component int64, settled bool) and the key (policy, mode, cohort) they were made under."""

    records: pd.DataFrame
    key: str


@dataclass(frozen=True)
class DecisionScope:
    """The records one run decides (masks over the CRM and Genesys frames), why, and what ``next_state`` needs
    to record the decision: the state it started from, its key and every record's fingerprint."""

    how: str
    """"incremental", or "full" when every record is decided."""
    why: str | None
    """Why the decision is full (None when incremental)."""
    crm: np.ndarray
    genesys: np.ndarray
    crm_components: np.ndarray
    genesys_components: np.ndarray
    seeds: int
    """Records (and pending decisions) that started the decision."""
    links_outside: int
    """Stored links of the cohort's records left out of the decision: the mass-delete guard counts every link of
    the cohort, decided this run or not."""
    key: str
    previous: DecisionState | None
    crm_fingerprints: np.ndarray
    genesys_fingerprints: np.ndarray

    @property
    def records(self) -> int:
        return int(self.crm.sum() + self.genesys.sum())


def _empty_records() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "system": pd.Series([], dtype=object),
            "record_id": pd.Series([], dtype=object),
            "fingerprint": pd.Series([], dtype="uint64"),
            "component": pd.Series([], dtype="int64"),
            "settled": pd.Series([], dtype=bool),
        }
    )


def state_key(policy: object, mode: str, cohort: str) -> str:
    """The conditions a decision state is valid under: the policy (all of it), the mode and the cohort."""
    text = f"{policy!r}\x1f{mode}\x1f{cohort}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def fingerprints(frame: pd.DataFrame, partner: np.ndarray, member: np.ndarray) -> np.ndarray:
    """One 64-bit hash per record of its canonical row, its stored link's other id and its cohort membership."""
    if frame.empty:
        return np.zeros(0, dtype="uint64")
    columns = frame.drop(columns=["system"], errors="ignore")
    text = columns.astype(object).where(columns.notna(), None).astype(str)
    text["__partner"] = pd.Series(partner, index=frame.index).astype(str)
    text["__member"] = member.astype(np.int8)
    return pd.util.hash_pandas_object(text, index=False).to_numpy(dtype="uint64")


def _partners(ids: pd.Series, links: pd.DataFrame, own: str, other: str) -> np.ndarray:
    stored = links.dropna(subset=[own, other]).drop_duplicates(own)
    return ids.map(pd.Series(stored[other].to_numpy(), index=stored[own].to_numpy())).to_numpy(dtype=object)


def _members(crm: pd.DataFrame, cohort_crm_ids: Iterable[str] | None) -> np.ndarray:
    if cohort_crm_ids is None:
        return np.ones(len(crm), dtype=bool)
    return crm["record_id"].isin(pd.Index(list(cohort_crm_ids), dtype=object)).to_numpy()


def decision_scope(
    crm: pd.DataFrame,
    genesys: pd.DataFrame,
    policy: object,
    state: DecisionState | None,
    key: str,
    *,
    links: pd.DataFrame | None = None,
    cohort_crm_ids: Iterable[str] | None = None,
    rejected: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    pair_decisions: pd.DataFrame | None = None,
    delete_decisions: pd.DataFrame | None = None,
    full: bool = False,
) -> DecisionScope:
    """The records this run must decide since `state` (see the module docstring); `key`: ``state_key`` of this run.
    The other arguments are ``engine.reconcile``'s: the records a person decided on (conflict, pair and delete
    decisions) and those the converters could not read are seeds; `full` forces the full decision."""
    cohort_crm_ids = None if cohort_crm_ids is None else list(cohort_crm_ids)
    links = links if links is not None else pd.DataFrame({"crm_id": [], "genesys_id": []}, dtype=object)
    n_c, n_g = len(crm), len(genesys)
    crm_ids = crm["record_id"].astype(object)
    gen_ids = genesys["record_id"].astype(object)
    keys: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    # Node numbering: CRM records, then Genesys records, then unreadable records.
    unreadable = rejected[rejected["system"] == "genesys"] if rejected is not None and len(rejected) else None
    n_u = 0 if unreadable is None else len(unreadable)

    def add(nodes: np.ndarray, values: np.ndarray, prefix: str) -> None:
        values = np.asarray(values, dtype=object)
        present = pd.notna(values)
        if present.any():
            keys.append(np.char.add(prefix, values[present].astype(str)).astype(object))
            owners.append(nodes[present])

    c_nodes = np.arange(n_c)
    g_nodes = n_c + np.arange(n_g)
    for name, values in candidate_keys(crm, policy).items():
        add(c_nodes, values, f"{name}:")
    for name, values in candidate_keys(genesys, policy).items():
        add(g_nodes, values, f"{name}:")
    add(c_nodes, crm_ids.to_numpy(dtype=object), "crm:")
    add(c_nodes, crm["merged_into"].to_numpy(dtype=object), "crm:")
    add(g_nodes, gen_ids.to_numpy(dtype=object), "genesys:")
    add(g_nodes, genesys["crm_id"].to_numpy(dtype=object), "crm:")
    c_partner = _partners(crm_ids, links, "crm_id", "genesys_id")
    g_partner = _partners(gen_ids, links, "genesys_id", "crm_id")
    add(c_nodes, c_partner, "genesys:")
    add(g_nodes, g_partner, "crm:")
    if pair_decisions is not None and len(pair_decisions):  # every answered pair joins its two records
        at = pd.Index(crm_ids).get_indexer(pair_decisions["crm_id"])
        add(c_nodes[at[at >= 0]], pair_decisions["genesys_id"].to_numpy(dtype=object)[at >= 0], "genesys:")
    u_nodes = n_c + n_g + np.arange(n_u)
    if unreadable is not None:
        for column, prefix in (("crm_id", "crm:"), ("record_id", "genesys:")):
            if column in unreadable:
                add(u_nodes, unreadable[column].to_numpy(dtype=object), prefix)
        if {"email", "phone_e164"} <= set(unreadable.columns):
            found = candidate_keys(unreadable_identities(unreadable), policy)
            add(u_nodes, found["email"], "email:")
            add(u_nodes, found["phone"], "phone:")

    c_member = _members(crm, cohort_crm_ids)
    c_print = fingerprints(crm, c_partner, c_member)
    g_print = fingerprints(genesys, g_partner, np.ones(n_g, dtype=bool))
    why = None
    if full:
        why = "a full decision was asked for"
    elif state is None or (state.records.empty and (n_c or n_g)):
        why = "no earlier decision is stored"
    elif state.key != key:
        why = "the policy, mode or cohort differs from the last decision's"

    seed_nodes = np.ones(n_c + n_g + n_u, dtype=bool) if why else np.zeros(n_c + n_g + n_u, dtype=bool)
    seed_keys: list[str] = []
    if why is None and state is not None:
        stored = state.records
        for system, ids, prints, nodes in (("crm", crm_ids, c_print, c_nodes), ("genesys", gen_ids, g_print, g_nodes)):
            mine = stored[stored["system"] == system].drop_duplicates("record_id").set_index("record_id")
            at = mine.index.get_indexer(ids)
            known = at >= 0
            same = np.zeros(len(ids), dtype=bool)
            same[known] = (mine["fingerprint"].to_numpy()[at[known]] == prints[known]) & mine["settled"].to_numpy(
                dtype=bool
            )[at[known]]
            seed_nodes[nodes[~same]] = True
            add(nodes[known], mine["component"].to_numpy()[at[known]].astype(str).astype(object), "component:")
            gone = ~mine.index.isin(ids)
            seed_keys += [f"component:{k}" for k in mine.loc[gone, "component"].astype(str)]
        seed_nodes[u_nodes] = True
        for frame in (decisions, delete_decisions, pair_decisions):
            if frame is not None and len(frame):
                seed_keys += [f"crm:{i}" for i in frame["crm_id"].dropna()]
                if "genesys_id" in frame:
                    seed_keys += [f"genesys:{i}" for i in frame["genesys_id"].dropna()]

    count, node_comp, key_comp, key_index = _components(n_c + n_g + n_u, owners, keys)
    seeded = np.zeros(count, dtype=bool)
    seeded[node_comp[seed_nodes]] = True
    at = key_index.get_indexer(pd.Index(seed_keys, dtype=object))
    seeded[key_comp[at[at >= 0]]] = True
    decided = seeded[node_comp]
    if why is None:
        outside = crm.loc[~decided[:n_c] & c_member, "record_id"]
        gen_outside = genesys.loc[~decided[n_c : n_c + n_g], "record_id"]
        present = links["crm_id"].isin(outside) & links["genesys_id"].isin(gen_outside)
        links_outside = int(links.loc[present, "crm_id"].nunique())
    else:
        links_outside = 0
    return DecisionScope(
        how="full" if why else "incremental",
        why=why,
        crm=decided[:n_c],
        genesys=decided[n_c : n_c + n_g],
        crm_components=node_comp[:n_c],
        genesys_components=node_comp[n_c : n_c + n_g],
        seeds=int(seed_nodes.sum()) + len(seed_keys),
        links_outside=links_outside,
        key=key,
        previous=state if why is None else None,
        crm_fingerprints=c_print,
        genesys_fingerprints=g_print,
    )


def _components(
    n_nodes: int, owners: list[np.ndarray], keys: list[np.ndarray]
) -> tuple[int, np.ndarray, np.ndarray, pd.Index]:
    """Connected components of the records over their keys: (how many, component per node, component per key, key
    index)."""
    if keys:
        key_codes, key_index = pd.factorize(np.concatenate(keys))
        nodes = np.concatenate(owners).astype(np.int64)
    else:
        key_codes, key_index = np.zeros(0, dtype=np.int64), pd.Index([], dtype=object)
        nodes = np.zeros(0, dtype=np.int64)
    size = n_nodes + len(key_index)
    graph = coo_matrix((np.ones(len(nodes), dtype=np.int8), (nodes, n_nodes + key_codes)), shape=(size, size))
    count, labels = connected_components(graph, directed=False)
    return int(count), labels[:n_nodes], labels[n_nodes:], pd.Index(key_index)


def unsettled_ids(plan: SyncPlan, match: MatchResult) -> dict[str, set[str]]:
    """The records a decision wrote, held, reviewed or reported something for, by system: the next run decides
    them again. A live CRM record left unlinked is never settled (it is created or held)."""
    crm: set[str] = set()
    gen: set[str] = set()

    def take(frame: pd.DataFrame, crm_column: str | None = "crm_id", gen_column: str | None = "genesys_id") -> None:
        if frame is None or frame.empty:
            return
        if crm_column and crm_column in frame:
            crm.update(frame[crm_column].dropna().astype(str))
        if gen_column and gen_column in frame:
            gen.update(frame[gen_column].dropna().astype(str))

    recon = plan.reconciliation
    take(recon[recon["action"].ne("none") | recon["base_update"].astype(bool)])
    for frame in (plan.conflicts, plan.unlinks, plan.deletes, plan.refused_deletes, plan.kept_deletes,
                  plan.new_links, plan.base_updates, match.review, match.moved_links):  # fmt: skip
        take(frame)
    take(match.moved_links, "merged_into", None)
    take(match.unmatched_crm)
    for frame, system_set in ((match.crm_duplicates, crm), (match.genesys_duplicates, gen)):
        if len(frame):
            system_set.update(frame["record_id"].dropna().astype(str))
    for frame in (match.ambiguous, match.rejected):
        if len(frame):
            is_gen = frame["system"].astype(str).eq("genesys").to_numpy()
            ids = frame["record_id"].astype(object)
            gen.update(ids[is_gen].dropna().astype(str))
            crm.update(ids[~is_gen].dropna().astype(str))
    return {"crm": crm, "genesys": gen}


def next_state(scope: DecisionScope, crm_ids: pd.Series, genesys_ids: pd.Series, plan: SyncPlan,
               match: MatchResult) -> DecisionState:  # fmt: skip
    """The state after a decision of `scope` (ids: the record_id columns of the frames it was computed on): the
    decided records with their fingerprint, component and whether they are settled; the others as they were; records
    gone from their snapshot dropped."""
    old = scope.previous.records if scope.previous is not None else _empty_records()
    offset = int(old["component"].max()) + 1 if len(old) else 0
    unsettled = unsettled_ids(plan, match)
    parts = []
    for system, ids, decided, comps, prints in (
        ("crm", crm_ids, scope.crm, scope.crm_components, scope.crm_fingerprints),
        ("genesys", genesys_ids, scope.genesys, scope.genesys_components, scope.genesys_fingerprints),
    ):
        ids = ids.astype(object).to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "system": system,
                    "record_id": ids[decided],
                    "fingerprint": prints[decided],
                    "component": (comps[decided] + offset).astype("int64"),
                    "settled": ~pd.Index(ids[decided]).isin(list(unsettled[system])),
                }
            )
        )
        mine = old[old["system"] == system]
        parts.append(mine[mine["record_id"].isin(ids[~decided])])
    records = pd.concat(parts, ignore_index=True).astype({"fingerprint": "uint64", "component": "int64"})
    return DecisionState(records[list(STATE_COLUMNS)], scope.key)
