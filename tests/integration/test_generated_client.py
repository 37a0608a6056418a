"""A Python client generated from the merged document drives a user's whole journey.

openapi-python-client turns the gateway's ``/apidocs/openapi.json`` into a typed client
(functions named after the operation ids, a model per component). That it generates with no
warning, and that the journey (register, log in, an idempotent order, a typed page of orders,
cancel, refresh, log out) works through it alone, shows the document is precise enough for a
client nobody wrote by hand. Only the generated code talks to the platform here.
"""

import json
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
import requests
from api_client import PASSWORD, unique_email, wait_until

MERGED = "/apidocs/openapi.json"
PACKAGE = "platform_client"
# The journey below uses every one of them.
SERVICES = ("auth", "orders", "users")
# No post-generation hooks: they run ruff, which formats the code and is not needed to use it.
CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"


def _serves_every_service(document: dict) -> bool:
    prefixes = {path.split("/")[3] for path in document.get("paths", {}) if path.count("/") >= 3}
    return prefixes >= set(SERVICES)


@pytest.fixture(scope="module")
def generated(platform_url: str, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Generate the client package into a temporary folder; its output says what it skipped.

    From the merged document once it holds every service: right after another module restarted
    one, the gateway may not route it yet, and the document is only what the gateway routes.
    """
    folder = tmp_path_factory.mktemp("generated")
    document = wait_until(
        lambda: requests.get(f"{platform_url}{MERGED}", timeout=10).json(),
        _serves_every_service,
        within=60,
        what=f"the merged document with {', '.join(SERVICES)}",
    )
    (folder / "openapi.json").write_text(json.dumps(document))
    (folder / "config.yaml").write_text(CONFIG)
    command = [
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        f"--path={folder / 'openapi.json'}",
        "--meta=none",  # the package alone, no pyproject: it is imported from the folder
        f"--output-path={folder / PACKAGE}",
        f"--config={folder / 'config.yaml'}",
    ]
    result = subprocess.run(  # noqa: S603 (our own arguments)
        command, capture_output=True, text=True, timeout=120, check=False
    )
    return SimpleNamespace(
        folder=folder, output=result.stdout + result.stderr, rc=result.returncode
    )


def test_the_client_generates_without_a_warning(generated: SimpleNamespace) -> None:
    # A warning means an operation or a model was left out or typed as Any.
    assert generated.rc == 0, generated.output
    assert "warning" not in generated.output.lower(), generated.output


def test_a_user_journey_through_the_generated_client_only(
    generated: SimpleNamespace, platform_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert generated.rc == 0, generated.output
    monkeypatch.syspath_prepend(str(generated.folder))
    # Imported here: the package exists only once the fixture generated it.
    from platform_client import AuthenticatedClient, Client
    from platform_client.api.auth import login, logout, refresh_tokens, register_account
    from platform_client.api.orders import cancel_order, create_order, list_orders
    from platform_client.models import (
        Login,
        OrderCreate,
        OrderItemCreate,
        RefreshToken,
        Registration,
    )

    # A status the document does not list raises instead of passing silently.
    anonymous = Client(base_url=platform_url, raise_on_unexpected_status=True)

    # Register, then log in.
    email = unique_email("generated")
    registered = register_account.sync_detailed(
        client=anonymous, body=Registration(email=email, password=PASSWORD, name="Generated")
    )
    assert registered.status_code == 201, registered.content
    assert registered.parsed.data.email == email
    logged_in = login.sync_detailed(client=anonymous, body=Login(email=email, password=PASSWORD))
    assert logged_in.status_code == 200, logged_in.content
    tokens = logged_in.parsed.data
    user = AuthenticatedClient(
        base_url=platform_url, token=tokens.access_token, raise_on_unexpected_status=True
    )

    # Place an order with an Idempotency-Key; the same request again is the same order.
    order_in = OrderCreate(items=[OrderItemCreate(sku="BOOK-7", quantity=2, unit_price_cents=999)])
    key = uuid.uuid4().hex
    created = create_order.sync_detailed(client=user, body=order_in, idempotency_key=key)
    assert created.status_code == 201, created.content
    order = created.parsed.data
    assert order.total_cents == 2 * 999
    replayed = create_order.sync_detailed(client=user, body=order_in, idempotency_key=key)
    assert replayed.parsed.data.id == order.id

    # One page of orders: its meta is typed, not a bag of extra properties.
    page = list_orders.sync_detailed(client=user, limit=5, offset=0)
    assert page.status_code == 200, page.content
    assert [item.id for item in page.parsed.data] == [order.id]
    meta = page.parsed.meta
    assert (meta.total, meta.limit, meta.offset) == (1, 5, 0)
    assert not meta.additional_properties, meta.additional_properties

    # Cancel it.
    cancelled = cancel_order.sync_detailed(client=user, order_id=order.id)
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.parsed.data.status == "cancelled"

    # Refresh the tokens, then log out with the new refresh token.
    refreshed = refresh_tokens.sync_detailed(
        client=anonymous, body=RefreshToken(refresh_token=tokens.refresh_token)
    )
    assert refreshed.status_code == 200, refreshed.content
    new_tokens = refreshed.parsed.data
    assert new_tokens.access_token != tokens.access_token
    logged_out = logout.sync_detailed(
        client=anonymous, body=RefreshToken(refresh_token=new_tokens.refresh_token)
    )
    assert logged_out.status_code == 204, logged_out.content
