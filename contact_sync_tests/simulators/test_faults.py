"""Fault rules fire exactly as configured: the injector's decisions, then each fault kind through a served simulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from contact_sync.simulators import serve_simulator
from contact_sync.simulators.faults import FAULT_KINDS, FaultInjector, FaultRule, corrupt
from contact_sync.simulators.genesys import GenesysSimulator


def fired_calls(injector: FaultInjector, calls: int, method: str = "GET", path: str = "/api/v2/x") -> list[int]:
    """The 1-based numbers of the calls on which a rule fired."""
    return [n for n in range(1, calls + 1) if injector.pick(method, path) is not None]


def injector_with(*rules: FaultRule | dict, seed: int = 0) -> FaultInjector:
    injector = FaultInjector(seed=seed)
    injector.set_rules(list(rules))
    return injector


def test_a_rule_without_frequency_fires_on_every_matching_call() -> None:
    assert fired_calls(injector_with(FaultRule("500")), 5) == [1, 2, 3, 4, 5]


def test_every_nth_call() -> None:
    assert fired_calls(injector_with(FaultRule("429", every=3)), 10) == [3, 6, 9]


def test_count_alone_fires_on_the_first_calls_then_stops() -> None:
    assert fired_calls(injector_with(FaultRule("503", count=2)), 6) == [1, 2]


def test_every_and_count_together() -> None:
    assert fired_calls(injector_with(FaultRule("500", every=2, count=2)), 10) == [2, 4]


def test_skip_lets_the_first_calls_through() -> None:
    assert fired_calls(injector_with(FaultRule("500", skip=3, count=2)), 8) == [4, 5]
    assert fired_calls(injector_with(FaultRule("500", skip=2, every=2)), 8) == [4, 6, 8]


def test_probability_is_deterministic_with_a_seed() -> None:
    rule = FaultRule("429", probability=0.3)
    first = fired_calls(injector_with(rule, seed=11), 400)
    again = fired_calls(injector_with(rule, seed=11), 400)
    other = fired_calls(injector_with(rule, seed=12), 400)
    assert first == again
    assert first != other
    assert 80 < len(first) < 160  # about 30% of 400
    assert fired_calls(injector_with(FaultRule("429", probability=0.0)), 50) == []
    assert len(fired_calls(injector_with(FaultRule("429", probability=1.0)), 50)) == 50


def test_set_rules_resets_counters_and_can_reseed() -> None:
    injector = injector_with(FaultRule("429", probability=0.5), seed=1)
    first = fired_calls(injector, 50)
    injector.set_rules([FaultRule("429", probability=0.5)])
    assert fired_calls(injector, 50) == first
    injector.set_rules([FaultRule("429", probability=0.5)], seed=2)
    assert fired_calls(injector, 50) != first
    injector.set_rules([FaultRule("500", every=2)])
    assert fired_calls(injector, 4) == [2, 4]
    injector.clear()
    assert fired_calls(injector, 4) == [] and injector.fired == []


def test_method_filter() -> None:
    injector = injector_with(FaultRule("500", method="post"))
    assert injector.pick("GET", "/a") is None
    assert injector.pick("POST", "/a") is not None
    assert injector.pick("post", "/a") is not None


def test_path_regex_and_only_matching_calls_count() -> None:
    injector = injector_with(FaultRule("429", path=r"/scan/contacts$", every=2))
    calls = [
        "/api/v2/externalcontacts/scan/contacts",
        "/api/v2/externalcontacts/contacts",
        "/api/v2/externalcontacts/scan/contacts",
        "/api/v2/externalcontacts/scan/contactsX",
        "/api/v2/externalcontacts/scan/contacts",
        "/api/v2/externalcontacts/scan/contacts",
    ]
    fired = [path for path in calls if injector.pick("GET", path) is not None]
    assert fired == ["/api/v2/externalcontacts/scan/contacts"] * 2
    assert [(f.kind, f.method) for f in injector.fired] == [("429", "GET"), ("429", "GET")]


def test_first_matching_rule_wins_and_later_rules_still_count() -> None:
    injector = injector_with(FaultRule("500", count=1), FaultRule("503", every=2))
    kinds = [rule.kind if rule else None for rule in (injector.pick("GET", "/x") for _ in range(4))]
    # call 1: the 500 rule fires (the 503 rule is not consulted); calls 2-4 reach the 503 rule as its calls 1-3.
    assert kinds == ["500", None, "503", None]


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "418"},
        {"kind": "timeout"},
        {"kind": "500", "every": 0},
        {"kind": "500", "probability": 1.5},
        {"kind": "500", "count": -1},
        {"kind": "500", "path": "("},
        {"kind": "500", "often": 2},
    ],
)
def test_bad_rules_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        FaultRule.from_dict(bad)
    with pytest.raises(ValueError):
        FaultInjector().set_rules([bad])


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown fault kind 'boom'.*429"):
        FaultRule("boom")  # type: ignore[arg-type]
    assert set(FAULT_KINDS) == {"429", "500", "503", "slow", "drop", "lost", "expired_token", "corrupt", "failed"}


def test_a_corrupt_rule_needs_the_objects_it_corrupts() -> None:
    with pytest.raises(ValueError, match="needs `match`"):
        FaultRule("corrupt", at=("firstName",), value=7)


def test_corrupt_puts_a_value_into_the_matching_objects_only() -> None:
    answer = {
        "entities": [
            {"id": "a", "phone": {"display": "1"}, "tags": ["x"]},
            {"id": "b", "phone": {"display": "2"}, "tags": ["y"]},
        ],
        "cursors": {"after": "c"},
    }
    rules = [
        FaultRule("corrupt", match={"id": "a"}, at=("phone", "display"), value={"deep": [1]}),
        FaultRule("corrupt", match={"id": "b"}, at=("tags", 0), value=None),
        FaultRule("corrupt", match={"id": "b"}, at=("nothing", "here"), value=1),  # no such place: left alone
    ]

    out = corrupt(answer, rules)

    assert out["entities"][0] == {"id": "a", "phone": {"display": {"deep": [1]}}, "tags": ["x"]}
    assert out["entities"][1] == {"id": "b", "phone": {"display": "2"}, "tags": [None]}
    assert out["cursors"] == {"after": "c"} and answer["entities"][0]["phone"] == {"display": "1"}


# End to end: each kind through the served Genesys simulator, seen by a real httpx client.

TOKEN_PATH = "/oauth/token"


@pytest.fixture(scope="module")
def genesys() -> Iterator[GenesysSimulator]:
    with serve_simulator(GenesysSimulator()) as sim:
        yield sim


def get_token(client: httpx.Client, genesys: GenesysSimulator) -> httpx.Response:
    return client.post(
        f"{genesys.url}{TOKEN_PATH}",
        data={"grant_type": "client_credentials"},
        auth=(genesys.client_id, genesys.client_secret),
    )


def scan(client: httpx.Client, genesys: GenesysSimulator, token: str) -> httpx.Response:
    return client.get(
        f"{genesys.url}/api/v2/externalcontacts/scan/contacts",
        params={"limit": 10},
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
def client(genesys: GenesysSimulator) -> Iterator[httpx.Client]:
    genesys.set_faults([])
    with httpx.Client(timeout=10) as c:
        yield c
    genesys.set_faults([])


def test_429_fires_every_nth_call_with_retry_after(client: httpx.Client, genesys: GenesysSimulator) -> None:
    genesys.set_faults([{"kind": "429", "path": "^/oauth/token$", "every": 2, "retry_after": 7}])
    statuses = [get_token(client, genesys) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 200, 429]
    limited = statuses[1]
    assert limited.headers["Retry-After"] == "7"
    body = limited.json()
    assert body["status"] == 429 and body["code"] == "too.many.requests.retry.after"


def test_500_fires_a_fixed_count_then_stops(client: httpx.Client, genesys: GenesysSimulator) -> None:
    genesys.set_faults([FaultRule("500", path="/oauth/token", count=2)])
    assert [get_token(client, genesys).status_code for _ in range(4)] == [500, 500, 200, 200]
    assert len(genesys.faults.fired) == 2


def test_503_fires_only_for_the_matching_method(client: httpx.Client, genesys: GenesysSimulator) -> None:
    genesys.set_faults([FaultRule("503", path="/oauth/token", method="GET")])
    assert get_token(client, genesys).status_code == 200
    assert client.get(f"{genesys.url}{TOKEN_PATH}").status_code == 503


def test_drop_aborts_the_connection(client: httpx.Client, genesys: GenesysSimulator) -> None:
    genesys.set_faults([FaultRule("drop", path="/oauth/token", count=1)])
    # The response is cut off half-way: the client sees either the incomplete message or the reset that follows it,
    # depending on which it reads first.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        get_token(client, genesys)
    assert get_token(client, genesys).status_code == 200


def test_lost_applies_the_call_and_cuts_its_answer(client: httpx.Client, genesys: GenesysSimulator) -> None:
    token = get_token(client, genesys).json()["access_token"]
    before = genesys.count()
    genesys.set_faults([FaultRule("lost", path="/externalcontacts/contacts$", method="POST", count=1)])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(
            f"{genesys.url}/api/v2/externalcontacts/contacts",
            json={"firstName": "Lost", "lastName": "Answer"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert genesys.count() == before + 1  # the create happened although the client never heard of it


def test_slow_outlasts_a_short_client_timeout(client: httpx.Client, genesys: GenesysSimulator) -> None:
    genesys.set_faults([FaultRule("slow", path="/oauth/token", count=1, delay=1.5)])
    with httpx.Client(timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        get_token(impatient, genesys)
    assert get_token(client, genesys).status_code == 200


def test_expired_token_answers_401_on_a_good_token(client: httpx.Client, genesys: GenesysSimulator) -> None:
    token = get_token(client, genesys).json()["access_token"]
    assert scan(client, genesys, token).status_code == 200
    genesys.set_faults([FaultRule("expired_token", path="/scan/contacts", count=1)])
    assert scan(client, genesys, token).status_code == 401
    assert scan(client, genesys, token).status_code == 200


def test_corrupt_changes_a_served_record_and_lets_other_faults_fire(
    client: httpx.Client, genesys: GenesysSimulator
) -> None:
    (odd, plain) = genesys.load_contacts([{"firstName": "Odd"}, {"firstName": "Plain"}])
    token = get_token(client, genesys).json()["access_token"]
    genesys.set_faults(
        [
            FaultRule("corrupt", path="/scan/contacts", match={"id": odd}, at=("firstName",), value=["a", 1]),
            FaultRule("500", path="/scan/contacts", count=1),
        ]
    )
    assert scan(client, genesys, token).status_code == 500
    served = {c["id"]: c for c in scan(client, genesys, token).json()["entities"]}
    assert served[odd]["firstName"] == ["a", 1] and served[plain]["firstName"] == "Plain"
    assert genesys.contact(odd)["firstName"] == "Odd"  # the answer is corrupted, not the record


def test_probability_faults_repeat_exactly_with_the_same_seed(client: httpx.Client, genesys: GenesysSimulator) -> None:
    def run() -> list[int]:
        genesys.set_faults([FaultRule("503", path="/oauth/token", probability=0.5)], seed=5)
        return [get_token(client, genesys).status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert 200 in first and 503 in first
