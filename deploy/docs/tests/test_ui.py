"""The Swagger UI page: one page, every document in its top bar, every asset served here."""

import json
import re
from html.parser import HTMLParser

import pytest

from tests.specs import orders_spec, users_spec


class Page(HTMLParser):
    """The parts of the page that matter: asset URLs and the Swagger UI configuration."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.config: dict = {}
        self._in_config = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect script and stylesheet URLs; notice the configuration block."""
        values = dict(attrs)
        url = values.get("src") or (values.get("href") if tag == "link" else None)
        if url:
            self.assets.append(url)
        self._in_config = values.get("id") == "swagger-config"

    def handle_data(self, data: str) -> None:
        """Read the configuration block's JSON."""
        if self._in_config:
            self.config = json.loads(data)
            self._in_config = False


@pytest.fixture()
def client(serve, traefik, make_app):
    """A client of the docs app discovering users and orders."""
    api = traefik({"users": serve(users_spec()), "orders": serve(orders_spec())})
    return make_app(DOCS_TRAEFIK_API=api).test_client()


def test_one_page_lists_the_merged_document_first_then_each_service(client):
    response = client.get("/apidocs/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    config = Page(response.get_data(as_text=True)).config
    assert config["urls"] == [
        {"name": "All services", "url": "/apidocs/openapi.json"},
        {"name": "orders", "url": "/apidocs/specs/orders.json"},
        {"name": "users", "url": "/apidocs/specs/users.json"},
    ]
    assert config["urls.primaryName"] == "All services"
    assert config["persistAuthorization"] is True
    # No spec URL is sent to swagger.io's online validator.
    assert config["validatorUrl"] is None


def test_every_listed_document_is_served(client):
    config = Page(client.get("/apidocs/").get_data(as_text=True)).config
    for entry in config["urls"]:
        assert client.get(entry["url"]).status_code == 200, entry


def test_the_unslashed_url_serves_the_page_too(client):
    response = client.get("/apidocs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_every_asset_is_local_and_served_with_its_type(client):
    page = Page(client.get("/apidocs/").get_data(as_text=True))
    assert page.assets, "the page references its assets"
    types = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for url in page.assets:
        assert url.startswith("/apidocs/static/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        assert types[url[url.rindex(".") :]] in response.content_type, url
    expected = {"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"}
    assert expected <= {url.rsplit("/", 1)[1] for url in page.assets}


def test_the_assets_are_a_current_swagger_ui_release(client):
    # Swagger UI's dist says its release in VERSION. 5.x honours persistAuthorization itself
    # (the page has no plugin of its own for it) and is the line that gets fixes.
    response = client.get("/apidocs/static/VERSION")
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("v5.")


def test_the_page_loads_nothing_from_elsewhere(client):
    html = client.get("/apidocs/").get_data(as_text=True)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_a_missing_asset_is_a_404_envelope(client):
    response = client.get("/apidocs/static/nope.js")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
