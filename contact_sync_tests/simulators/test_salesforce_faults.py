"""Fault rules on the Salesforce simulator fire as configured, and each error status reaches the real client as
simple-salesforce's matching exception."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from contact_sync.simulators.salesforce import SalesforceSimulator
from contact_sync_tests.simulators import salesforce_fixtures as fx
from contact_sync_tests.simulators.salesforce_fixtures import api, client_session

served_sf, sim, sf, http = fx.served_sf, fx.sim, fx.sf, fx.http

Q = "SELECT Id FROM Contact"


def test_429_with_retry_after_fires_count_times(sim: SalesforceSimulator, sf: Salesforce) -> None:
    sim.set_faults([{"kind": "429", "path": r"/query/?$", "count": 2, "retry_after": 7}])
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query(Q)
        assert err.value.status == 429
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.query(Q)["totalSize"] == 0
    assert [f.kind for f in sim.faults.fired] == ["429", "429"]


def test_429_and_503_carry_retry_after(sim: SalesforceSimulator, http: requests.Session) -> None:
    sim.set_faults([{"kind": "429", "path": "/limits", "retry_after": 7}, {"kind": "503", "path": "/query"}])
    reply = http.get(api(sim, "limits/"))
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "7"
    unavailable = http.get(api(sim, "query/"), params={"q": Q})
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "1"
    assert unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_500_every_second_call(sim: SalesforceSimulator, sf: Salesforce) -> None:
    sim.set_faults([{"kind": "500", "path": "/query", "every": 2}])
    outcomes = []
    for _ in range(4):
        try:
            sf.query(Q)
            outcomes.append("ok")
        except SalesforceGeneralError as exc:
            assert exc.status == 500
            assert exc.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
            outcomes.append("500")
    assert outcomes == ["ok", "500", "ok", "500"]


def test_rules_can_be_limited_to_a_method(sim: SalesforceSimulator, sf: Salesforce) -> None:
    (cid,) = sim.load_contacts([{"LastName": "A"}])
    sim.set_faults([{"kind": "503", "path": "/sobjects/Contact/", "method": "PATCH"}])
    assert sf.Contact.get(cid)["LastName"] == "A"
    with pytest.raises(SalesforceGeneralError) as err:
        sf.Contact.update(cid, {"LastName": "B"})
    assert err.value.status == 503
    assert sim.contact(cid)["LastName"] == "A"  # a faulted call never reaches the app


def test_drop_breaks_the_connection(sim: SalesforceSimulator, sf: Salesforce) -> None:
    sim.set_faults([{"kind": "drop", "path": "/query", "count": 1}])
    with pytest.raises(requests.exceptions.RequestException):
        sf.query(Q)
    assert sf.query(Q)["totalSize"] == 0


def test_slow_response_passes_the_client_timeout(sim: SalesforceSimulator, sf: Salesforce) -> None:
    sim.set_faults([{"kind": "slow", "path": "/query", "count": 1, "delay": 0.6}])
    with pytest.raises(requests.exceptions.Timeout):
        sf.query(Q, timeout=0.2)
    assert sf.query(Q, timeout=5)["totalSize"] == 0


def test_expired_token_fault(sim: SalesforceSimulator) -> None:
    sim.set_faults([{"kind": "expired_token", "path": "/query", "count": 1}])
    direct = Salesforce(session_id=sim.new_session(), instance_url=sim.url, session=client_session(sim))
    with pytest.raises(SalesforceExpiredSession):
        direct.query(Q)
    sim.set_faults([{"kind": "expired_token", "path": "/query", "count": 1}])
    soap = Salesforce(
        username=sim.username,
        password=sim.password,
        security_token=sim.security_token,
        domain=sim.login_domain,
        session=client_session(sim),
    )
    assert soap.query(Q)["totalSize"] == 0  # the client logged in again and retried
    assert sim.calls[("POST", "/services/Soap/u/{version}")] == 2
    direct.session.close()
    soap.session.close()


def test_probability_rules_are_deterministic_with_a_seed(sim: SalesforceSimulator, http: requests.Session) -> None:
    def run() -> list[int]:
        sim.set_faults([{"kind": "500", "path": "/limits", "probability": 0.5}], seed=42)
        return [http.get(api(sim, "limits/")).status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert set(first) == {200, 500}


@pytest.mark.parametrize(
    ("make_error", "exc_type", "status"),
    [
        (lambda sf, sim: sf.query("SELECT Nope FROM Contact"), SalesforceMalformedRequest, 400),
        (lambda sf, sim: sim.expire_sessions() or sf.query(Q), SalesforceExpiredSession, 401),
        (lambda sf, sim: setattr(sim, "api_usage", sim.daily_api_limit) or sf.query(Q), SalesforceRefusedRequest, 403),
        (lambda sf, sim: sf.Contact.get("003000000000001AAA"), SalesforceResourceNotFound, 404),
        (lambda sf, sim: sf.restful("sobjects/Contact/003000000000001AAA", method="PUT", json={}),
         SalesforceGeneralError, 405),
    ],
)  # fmt: skip
def test_each_status_maps_to_the_client_exception(
    sim: SalesforceSimulator, sf: Salesforce, make_error, exc_type: type, status: int
) -> None:
    with pytest.raises(exc_type) as err:
        make_error(sf, sim)
    assert err.value.status == status
    assert isinstance(err.value.content, list) and err.value.content[0]["errorCode"]
