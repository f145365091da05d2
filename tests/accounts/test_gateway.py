"""The core-banking gateway: the simulated backend's faults, and the HTTP backend on a local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.gateway import HttpGateway, PermanentGatewayError, SimulatedGateway, TransientGatewayError
from accounts.models import SimulatorFault


@pytest.mark.django_db
def test_the_simulator_is_deterministic_under_a_seed() -> None:
    SimulatorFault.objects.create(name="flaky", failure_rate=0.5)

    def outcomes(seed: str) -> list[bool]:
        gateway = SimulatedGateway(seed=seed)
        results = []
        for n in range(40):
            try:
                gateway.activate_card(f"LA{n:010d}", product="working_capital", channel="x", attempt=1)
                results.append(True)
            except PermanentGatewayError:
                results.append(False)
        return results

    first = outcomes("a")
    assert first == outcomes("a")
    assert first != outcomes("b")
    assert 8 < first.count(False) < 32


@pytest.mark.django_db
def test_the_simulator_faults_apply_to_their_product_or_channel_only() -> None:
    SimulatorFault.objects.create(name="cfg", scenario="configuration_fault", channel="Mobile app")
    SimulatorFault.objects.create(name="off", scenario="configuration_fault", channel="Online banking", active=False)
    gateway = SimulatedGateway()
    with pytest.raises(PermanentGatewayError) as raised:
        gateway.activate_card("LA1", product="working_capital", channel="Mobile app", attempt=1)
    assert raised.value.code == "CFG-CHANNEL-MISSING"
    gateway.activate_card("LA1", product="working_capital", channel="Online banking", attempt=1)
    SimulatorFault.objects.create(name="slow", timeout_rate=1.0, product="project_finance")
    with pytest.raises(TransientGatewayError):
        gateway.activate_card("LA2", product="project_finance", channel="Shop", attempt=1)
    gateway.activate_card("LA2", product="equipment_purchase", channel="Shop", attempt=1)


class CoreBanking(BaseHTTPRequestHandler):
    """A tiny core banking: answers by account number."""

    calls: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self.calls.append(self.path)
        length = int(self.headers.get("Content-Length", 0))
        json.loads(self.rfile.read(length) or b"{}")
        number = self.path.split("/")[2]
        if number == "LA0000000500":
            self._answer(503, {"code": "CB-BUSY", "message": "overloaded"})
        elif number == "LA0000000400":
            self._answer(422, {"code": "CB-4031", "message": "product not configured"})
        elif number == "LA0000000408":
            import time

            time.sleep(1.5)
            self._answer(200, {})
        else:
            self._answer(200, {"activated": True})

    def do_GET(self) -> None:
        self._answer(200, {"active": True, "detail": "ok"})


@pytest.fixture
def core_banking() -> Iterator[str]:
    CoreBanking.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CoreBanking)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_activation_succeeds(core_banking: str) -> None:
    gateway = HttpGateway(core_banking, timeout=1, retries=2)
    gateway.activate_card("LA0000000001", product="working_capital", channel="x", attempt=1)
    assert CoreBanking.calls == ["/cards/LA0000000001/activate"]
    assert gateway.card_status("LA0000000001").active


def test_http_retries_a_5xx_then_reports_it_as_transient(core_banking: str) -> None:
    gateway = HttpGateway(core_banking, timeout=1, retries=2)
    with pytest.raises(TransientGatewayError) as raised:
        gateway.activate_card("LA0000000500", product="working_capital", channel="x", attempt=1)
    assert (raised.value.code, raised.value.message) == ("CB-BUSY", "overloaded")
    assert len(CoreBanking.calls) == 3


def test_http_does_not_retry_a_4xx(core_banking: str) -> None:
    gateway = HttpGateway(core_banking, timeout=1, retries=2)
    with pytest.raises(PermanentGatewayError) as raised:
        gateway.activate_card("LA0000000400", product="working_capital", channel="x", attempt=1)
    assert raised.value.code == "CB-4031"
    assert len(CoreBanking.calls) == 1


def test_http_times_out_and_retries(core_banking: str) -> None:
    gateway = HttpGateway(core_banking, timeout=0.3, retries=1)
    with pytest.raises(TransientGatewayError) as raised:
        gateway.activate_card("LA0000000408", product="working_capital", channel="x", attempt=1)
    assert raised.value.code == "CB-TIMEOUT"
    assert len(CoreBanking.calls) == 2


def test_http_reports_an_unreachable_system() -> None:
    gateway = HttpGateway("http://127.0.0.1:9", timeout=0.3, retries=0)
    with pytest.raises(TransientGatewayError) as raised:
        gateway.activate_card("LA1", product="working_capital", channel="x", attempt=1)
    assert raised.value.code == "CB-UNREACHABLE"
