"""Routing: path parameters and their converters, methods, 404 and 405, trailing-slash
redirects, first match wins, mounts and hosts, url_path_for and url_for; and properties of
the route tree, url building and the converters."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ferry.asgi.app import App
from ferry.asgi.converters import (
    CONVERTOR_TYPES,
    Convertor,
    StringConvertor,
    register_url_convertor,
)
from ferry.asgi.exceptions import NoMatchFound
from ferry.asgi.requests import Request
from ferry.asgi.responses import JSONResponse, PlainTextResponse, Response
from ferry.asgi.routing import BaseRoute, Host, Match, Mount, Route, Router, route_path
from ferry.asgi.testing import TestClient
from ferry.asgi.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
AppFactory = Callable[[Sequence[BaseRoute]], ASGIApp]


async def echo_params(request: Request) -> Response:
    """Each path parameter as [its type's name, its text]."""
    params = {key: [type(value).__name__, str(value)] for key, value in request.path_params.items()}
    return JSONResponse(params)


async def echo_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that answers with the path and root_path it was given."""
    seen = {"path": scope["path"], "root_path": scope.get("root_path", "")}
    await JSONResponse(seen)(scope, receive, send)


def says(text: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(text)

    return endpoint


def in_app(routes: Sequence[BaseRoute]) -> ASGIApp:
    return App(routes=routes)


def in_router(routes: Sequence[BaseRoute]) -> ASGIApp:
    return Router(routes=routes)


# The router answers 404 and 405 itself on its own, and through exception handlers in an App.
app_factories = pytest.mark.parametrize("make_app", [in_app, in_router], ids=["app", "router"])


def client_for(*routes: BaseRoute, root_path: str = "") -> TestClient:
    return TestClient(App(routes=list(routes)), root_path=root_path)


def http_scope(path: str, method: str = "GET", root_path: str = "") -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
    }


# --- path parameters and converters ------------------------------------------------------


def test_str_param_matches_one_segment() -> None:
    client = client_for(Route("/users/{name}", echo_params))
    assert client.get("/users/ada").json() == {"name": ["str", "ada"]}
    assert client.get("/users/ada/more").status_code == 404


def test_int_param_is_converted_to_int() -> None:
    client = client_for(Route("/items/{item_id:int}", echo_params))
    assert client.get("/items/42").json() == {"item_id": ["int", "42"]}
    assert client.get("/items/forty-two").status_code == 404
    assert client.get("/items/-1").status_code == 404


def test_float_param_is_converted_to_float() -> None:
    client = client_for(Route("/prices/{amount:float}", echo_params))
    assert client.get("/prices/3.25").json() == {"amount": ["float", "3.25"]}
    assert client.get("/prices/3").json() == {"amount": ["float", "3.0"]}
    assert client.get("/prices/3.").status_code == 404


def test_uuid_param_is_converted_to_uuid() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    client = client_for(Route("/orders/{order_id:uuid}", echo_params))
    assert client.get(f"/orders/{value}").json() == {"order_id": ["UUID", str(value)]}
    assert client.get(f"/orders/{str(value).upper()}").json() == {"order_id": ["UUID", str(value)]}
    assert client.get("/orders/12345678").status_code == 404


def test_path_param_takes_the_rest_of_the_path_slashes_included() -> None:
    client = client_for(Route("/files/{rest:path}", echo_params))
    assert client.get("/files/css/site/main.css").json() == {"rest": ["str", "css/site/main.css"]}
    assert client.get("/files/").json() == {"rest": ["str", ""]}


class HexConvertor(Convertor[int]):
    regex = "[0-9a-f]+"

    def convert(self, value: str) -> int:
        return int(value, 16)

    def to_string(self, value: int) -> str:
        return format(value, "x")


@pytest.fixture
def hex_convertor() -> Iterator[None]:
    register_url_convertor("hex", HexConvertor())
    yield
    del CONVERTOR_TYPES["hex"]


@pytest.mark.usefixtures("hex_convertor")
def test_registered_convertor_matches_and_builds_paths() -> None:
    app = App(routes=[Route("/colors/{rgb:hex}", echo_params, name="color")])
    client = TestClient(app)
    assert client.get("/colors/ff00").json() == {"rgb": ["int", str(0xFF00)]}
    assert client.get("/colors/xyz").status_code == 404
    assert app.url_path_for("color", rgb=255) == "/colors/ff"


class LowerConvertor(StringConvertor):
    """A str convertor that changes the text: it must still be applied."""

    def convert(self, value: str) -> str:
        return value.lower()


@pytest.fixture
def lower_convertor() -> Iterator[None]:
    register_url_convertor("lower", LowerConvertor())
    yield
    del CONVERTOR_TYPES["lower"]


@pytest.mark.usefixtures("lower_convertor")
def test_a_str_convertor_that_overrides_convert_is_applied() -> None:
    client = client_for(Route("/tags/{tag:lower}/{raw}", echo_params))
    assert client.get("/tags/PyThon/KeepCase").json() == {
        "tag": ["str", "python"],
        "raw": ["str", "KeepCase"],
    }


def test_path_with_a_trailing_newline_does_not_match_the_route_without_it() -> None:
    client = client_for(Route("/users", says("users")), Route("/files/{rest:path}", echo_params))
    assert client.get("/users%0A").status_code == 404
    assert client.get("/files/a%0Ab%0A").json() == {"rest": ["str", "a\nb\n"]}


def test_unknown_convertor_fails_when_the_route_is_made() -> None:
    with pytest.raises(ValueError, match="Unknown path convertor 'nope'"):
        Route("/things/{thing:nope}", echo_params)


def test_param_named_twice_fails_when_the_route_is_made() -> None:
    with pytest.raises(ValueError, match="Duplicated param name thing"):
        Route("/things/{thing}/{thing}", echo_params)


# --- methods, 404 and 405 ------------------------------------------------------------------


def test_function_route_answers_get_and_head_by_default() -> None:
    client = client_for(Route("/", says("home")))
    assert client.get("/").text == "home"
    head = client.head("/")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == "4"
    assert client.post("/").status_code == 405


def test_route_answers_only_the_methods_listed() -> None:
    client = client_for(Route("/items", says("changed"), methods=["post", "PUT"]))
    assert client.post("/items").text == "changed"
    assert client.put("/items").text == "changed"
    assert client.get("/items").status_code == 405


@app_factories
def test_path_match_alone_gives_405_with_allow_listing_the_methods(make_app: AppFactory) -> None:
    client = TestClient(make_app([Route("/items", says("ok"), methods=["GET", "POST"])]))
    response = client.delete("/items")
    assert response.status_code == 405
    assert response.text == "Method Not Allowed"
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_later_full_match_wins_over_earlier_path_only_match() -> None:
    client = client_for(
        Route("/items", says("created"), methods=["POST"]),
        Route("/items", says("listed"), methods=["GET"]),
    )
    assert client.get("/items").text == "listed"
    assert client.post("/items").text == "created"


@app_factories
def test_no_matching_path_gives_404(make_app: AppFactory) -> None:
    client = TestClient(make_app([Route("/items", says("ok"))]))
    response = client.get("/nothing/here")
    assert response.status_code == 404
    assert response.text == "Not Found"


class AnyMethodApp:
    """A route endpoint that is not a function, so the route takes every method."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.methods.append(scope["method"])
        await PlainTextResponse("reached")(scope, receive, send)


@app_factories
@pytest.mark.parametrize("method", ["FOO", "DISPATCH", "__INIT__"])
def test_non_standard_method_is_never_dispatched_even_to_a_route_for_any_method(
    make_app: AppFactory, method: str
) -> None:
    endpoint = AnyMethodApp()
    client = TestClient(make_app([Route("/any", endpoint)]))
    assert client.request("PATCH", "/any").text == "reached"
    response = client.request(method, "/any")
    assert response.status_code == 405
    assert response.headers["allow"] == (
        "CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE"
    )
    assert endpoint.methods == ["PATCH"]


# --- trailing-slash redirects ----------------------------------------------------------------


def test_missing_trailing_slash_redirects_307_to_the_slash_form() -> None:
    client = client_for(Route("/items/", says("items")))
    response = client.get("/items", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "http://testserver/items/"
    assert client.get("/items").text == "items"


def test_extra_trailing_slash_redirects_307_to_the_form_without_it() -> None:
    client = client_for(Route("/items", says("items")))
    response = client.get("/items/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "http://testserver/items"


def test_slash_redirect_keeps_the_query_string() -> None:
    client = client_for(Route("/items/", says("items")))
    response = client.get("/items?page=2&sort=name", follow_redirects=False)
    assert response.headers["location"] == "http://testserver/items/?page=2&sort=name"


def test_slash_redirect_keeps_the_method_with_307() -> None:
    client = client_for(Route("/items/", says("created"), methods=["POST"]))
    response = client.post("/items", content=b"body")
    assert response.text == "created"
    assert [r.status_code for r in response.history] == [307]


def test_no_redirect_when_the_other_slash_form_does_not_exist_either() -> None:
    client = client_for(Route("/items", says("items")))
    assert client.get("/other", follow_redirects=False).status_code == 404
    assert client.get("/other/", follow_redirects=False).status_code == 404


def test_slash_redirect_in_a_mount_keeps_the_mount_and_server_prefixes() -> None:
    client = client_for(Mount("/shop", routes=[Route("/items/", says("items"))]), root_path="/api")
    response = client.get("/shop/items", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "http://testserver/api/shop/items/"


@app_factories
def test_slash_redirects_can_be_turned_off(make_app: AppFactory) -> None:
    app = make_app([Route("/items/", says("items"))])
    router = app.router if isinstance(app, App) else app
    assert isinstance(router, Router)
    router.redirect_slashes = False
    assert TestClient(app).get("/items", follow_redirects=False).status_code == 404


# --- first match wins ---------------------------------------------------------------------------


def test_first_match_wins_static_route_before_dynamic() -> None:
    client = client_for(Route("/users/me", says("me")), Route("/users/{name}", echo_params))
    assert client.get("/users/me").text == "me"
    assert client.get("/users/ada").json() == {"name": ["str", "ada"]}


def test_first_match_wins_dynamic_route_before_static() -> None:
    client = client_for(Route("/users/{name}", echo_params), Route("/users/me", says("me")))
    assert client.get("/users/me").json() == {"name": ["str", "me"]}


def test_first_match_wins_mount_before_a_deeper_route() -> None:
    client = client_for(Mount("/users", app=echo_scope), Route("/users/me", says("me")))
    assert client.get("/users/me").json() == {"path": "/users/me", "root_path": "/users"}


# --- mounts -----------------------------------------------------------------------------------


def test_mount_of_routes_matches_the_rest_of_the_path() -> None:
    client = client_for(Mount("/api", routes=[Route("/items/{item_id:int}", echo_params)]))
    assert client.get("/api/items/7").json() == {"item_id": ["int", "7"]}
    assert client.get("/items/7").status_code == 404


def test_mount_of_a_router_routes_into_it() -> None:
    router = Router(routes=[Route("/hello", says("hello from the router"))])
    client = client_for(Mount("/sub", app=router))
    assert client.get("/sub/hello").text == "hello from the router"
    assert client.get("/sub/missing").status_code == 404


def test_mount_of_a_sub_app_routes_into_its_routes() -> None:
    sub_app = App(routes=[Route("/hello", says("hello from the sub-app"))])
    client = client_for(Mount("/sub", app=sub_app))
    assert client.get("/sub/hello").text == "hello from the sub-app"
    assert client.get("/sub/missing").status_code == 404


def test_mounted_app_sees_path_unchanged_and_root_path_extended() -> None:
    client = client_for(Mount("/sub", app=echo_scope))
    assert client.get("/sub/a/b").json() == {"path": "/sub/a/b", "root_path": "/sub"}
    assert client.get("/sub/").json() == {"path": "/sub/", "root_path": "/sub"}


def test_nested_mounts_extend_root_path_at_each_level() -> None:
    client = client_for(Mount("/a", routes=[Mount("/b", routes=[Mount("/c", app=echo_scope)])]))
    assert client.get("/a/b/c/d").json() == {"path": "/a/b/c/d", "root_path": "/a/b/c"}


def test_mount_under_a_server_root_path_keeps_it_as_prefix() -> None:
    client = client_for(Mount("/sub", app=echo_scope), root_path="/api")
    assert client.get("/sub/x").json() == {"path": "/api/sub/x", "root_path": "/api/sub"}


def test_routes_match_below_the_server_root_path() -> None:
    client = client_for(Route("/items/{item_id:int}", echo_params), root_path="/api")
    assert client.get("/items/3").json() == {"item_id": ["int", "3"]}


def test_mount_params_reach_the_endpoint_with_its_own() -> None:
    client = client_for(Mount("/orgs/{org}", routes=[Route("/repos/{repo}", echo_params)]))
    assert client.get("/orgs/python/repos/cpython").json() == {
        "org": ["str", "python"],
        "repo": ["str", "cpython"],
    }


# --- hosts --------------------------------------------------------------------------------------


def host_app() -> App:
    site = Router(routes=[Route("/", echo_params, name="home")])
    return App(routes=[Host("{subdomain}.example.org", app=site, name="site")])


def test_host_route_takes_its_params_from_the_host_header() -> None:
    response = TestClient(host_app()).get("http://ada.example.org/")
    assert response.json() == {"subdomain": ["str", "ada"]}


def test_host_route_ignores_the_port() -> None:
    response = TestClient(host_app()).get("http://ada.example.org:8080/")
    assert response.json() == {"subdomain": ["str", "ada"]}


def test_other_hosts_fall_through_to_later_routes() -> None:
    app = host_app()
    app.add_route("/", says("fallback"))
    client = TestClient(app)
    assert client.get("http://example.com/").text == "fallback"
    assert client.get("http://ada.example.org/").json() == {"subdomain": ["str", "ada"]}


# --- url_path_for and url_for -------------------------------------------------------------------


def test_url_path_for_fills_in_route_params_through_their_convertors() -> None:
    app = App(routes=[Route("/items/{item_id:int}/{size:float}", echo_params, name="item")])
    assert app.url_path_for("item", item_id=5, size=1.5) == "/items/5/1.5"


def test_url_path_for_defaults_to_the_endpoint_name() -> None:
    app = App(routes=[Route("/params", echo_params)])
    assert app.url_path_for("echo_params") == "/params"


def api_app() -> App:
    """A route called "item" in a mount called "api"."""
    item = Route("/items/{item_id:int}", echo_params, name="item")
    return App(routes=[Mount("/api", routes=[item], name="api")])


def test_url_path_for_a_route_in_a_named_mount_uses_mount_colon_route() -> None:
    app = api_app()
    assert app.url_path_for("api:item", item_id=5) == "/api/items/5"
    with pytest.raises(NoMatchFound):
        app.url_path_for("item", item_id=5)


def test_url_path_for_a_route_in_an_unnamed_mount_uses_the_route_name() -> None:
    app = App(routes=[Mount("/api", routes=[Route("/items", echo_params, name="items")])])
    assert app.url_path_for("items") == "/api/items"


def test_url_path_for_a_mount_itself_takes_the_rest_as_path() -> None:
    app = App(routes=[Mount("/static", app=echo_scope, name="static")])
    assert app.url_path_for("static", path="/css/site.css") == "/static/css/site.css"


def test_url_path_for_nested_mounts_joins_their_names_and_params() -> None:
    repos = Mount("/repos", routes=[Route("/{repo}", echo_params, name="repo")], name="repos")
    app = App(routes=[Mount("/orgs/{org}", routes=[repos], name="orgs")])
    path = app.url_path_for("orgs:repos:repo", org="python", repo="cpython")
    assert path == "/orgs/python/repos/cpython"


def test_url_path_for_a_route_behind_a_host_carries_the_host() -> None:
    path = host_app().url_path_for("site:home", subdomain="ada")
    assert path == "/"
    assert path.host == "ada.example.org"
    assert str(path.make_absolute_url("https://elsewhere.org")) == "https://ada.example.org/"


def test_no_match_found_names_the_route_and_its_missing_params() -> None:
    app = App(routes=[Route("/items/{item_id:int}", echo_params, name="item")])
    with pytest.raises(NoMatchFound, match=r"Route 'item' takes params \['item_id'\]; missing"):
        app.url_path_for("item")
    with pytest.raises(NoMatchFound, match=r"unexpected \['color'\]"):
        app.url_path_for("item", item_id=1, color="red")


def test_no_match_found_names_the_missing_params_of_a_mounted_route() -> None:
    with pytest.raises(NoMatchFound, match=r"Route 'api:item' .*missing \['item_id'\]"):
        api_app().url_path_for("api:item")


def test_no_match_found_when_a_mount_or_host_misses_its_own_params() -> None:
    repos = Mount("/orgs/{org}", routes=[Route("/repos", echo_params, name="repos")], name="orgs")
    app = App(routes=[repos, *host_app().routes])
    with pytest.raises(NoMatchFound, match=r"Route 'orgs:repos' .*missing \['org'\]"):
        app.url_path_for("orgs:repos")
    with pytest.raises(NoMatchFound, match=r"Route 'orgs' .*missing \['org'\]"):
        app.url_path_for("orgs", path="/repos")
    with pytest.raises(NoMatchFound, match=r"Route 'site:home' .*missing \['subdomain'\]"):
        app.url_path_for("site:home")


def test_url_path_for_never_fills_params_inside_another_params_value() -> None:
    app = App(routes=[Route("/{first}/{second}", echo_params, name="pair")])
    assert app.url_path_for("pair", first="{second}", second="x") == "/{second}/x"
    assert app.url_path_for("pair", second="{first}", first="x") == "/x/{first}"


def test_no_match_found_for_a_name_no_route_has() -> None:
    app = App(routes=[Route("/items", echo_params, name="items")])
    with pytest.raises(NoMatchFound, match="No route exists for name 'nope'"):
        app.url_path_for("nope")


async def link_to_item(request: Request) -> Response:
    return PlainTextResponse(str(request.url_for("item", item_id=3)))


def test_request_url_for_gives_an_absolute_url() -> None:
    client = client_for(
        Route("/link", link_to_item), Route("/items/{item_id:int}", echo_params, name="item")
    )
    assert client.get("/link").text == "http://testserver/items/3"
    assert client.get("https://example.org:8443/link").text == "https://example.org:8443/items/3"


def test_request_url_for_includes_the_server_root_path() -> None:
    client = client_for(
        Route("/link", link_to_item),
        Route("/items/{item_id:int}", echo_params, name="item"),
        root_path="/api",
    )
    assert client.get("/link").text == "http://testserver/api/items/3"


def test_request_url_for_inside_a_mounted_sub_app_includes_the_mount() -> None:
    sub_app = App(
        routes=[
            Route("/link", link_to_item),
            Route("/items/{item_id:int}", echo_params, name="item"),
        ]
    )
    client = client_for(Mount("/sub", app=sub_app))
    assert client.get("/sub/link").text == "http://testserver/sub/items/3"


def test_request_url_for_a_route_behind_a_host_uses_that_host() -> None:
    async def link_home(request: Request) -> Response:
        return PlainTextResponse(str(request.url_for("site:home", subdomain="ada")))

    app = host_app()
    app.add_route("/link", link_home)
    assert TestClient(app).get("/link").text == "http://ada.example.org/"


# --- routes added later -------------------------------------------------------------------------


def test_route_added_after_the_first_request_is_found() -> None:
    app = App(routes=[Route("/first", says("first"))])
    client = TestClient(app)
    assert client.get("/first").text == "first"
    assert client.get("/second").status_code == 404
    app.add_route("/second", says("second"))
    assert client.get("/second").text == "second"
    assert client.get("/first").text == "first"


# --- properties -------------------------------------------------------------------------------

# Literal text of a route path: no "/" (it separates segments) and no braces.
LITERALS = st.text(
    st.characters(blacklist_characters="/{}", blacklist_categories=["Cs"]), min_size=1, max_size=5
)
# Text a path parameter may hold: any character, "/" only for the path convertor.
SEGMENT_TEXT = st.text(st.characters(blacklist_characters="/", blacklist_categories=["Cs"]))
PARAM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "str": SEGMENT_TEXT.filter(bool),
    "int": st.integers(min_value=0),
    "float": st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    "uuid": st.uuids(),
    "path": st.text(st.characters(blacklist_categories=["Cs"])),
}


@st.composite
def route_paths_and_params(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A route path of literal and parameter segments, and a value for each parameter."""
    segments: list[str] = []
    params: dict[str, Any] = {}
    for index in range(draw(st.integers(min_value=0, max_value=5))):
        prefix = draw(st.one_of(st.just(""), LITERALS))
        if draw(st.booleans()):
            segments.append(prefix or "lit")
            continue
        convertor = draw(st.sampled_from(["str", "int", "float", "uuid"]))
        name = f"p{index}"
        segments.append(f"{prefix}{{{name}:{convertor}}}")
        params[name] = draw(PARAM_VALUES[convertor])
    if draw(st.booleans()):
        segments.append("{rest:path}")
        params["rest"] = draw(PARAM_VALUES["path"])
    return "/" + "/".join(segments), params


@given(route_paths_and_params())
def test_url_built_by_url_path_for_matches_back_to_the_same_params(
    case: tuple[str, dict[str, Any]],
) -> None:
    path, params = case
    route = Route(path, echo_params, name="target")
    url = route.url_path_for("target", **params)
    match, child_scope = route.matches(http_scope(url))
    assert match is Match.FULL
    assert child_scope["path_params"] == params


# Segments for route tables and request paths: few, so that routes and requests meet.
TABLE_SEGMENTS = st.sampled_from(["a", "b", "users", "me", "7", ""])
PARAM_SEGMENTS = st.sampled_from(["{name}", "{num:int}", "x{name}", "{rest:path}"])
REQUEST_SEGMENTS = st.one_of(TABLE_SEGMENTS, st.sampled_from(["8", "a\n", "a.b", "x1", "%2F"]))
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "FOO"])


def drop_repeated_params(segments: list[str]) -> list[str]:
    # A parameter named twice is refused; "{rest:path}" only makes sense at the end.
    kept: list[str] = []
    for segment in segments:
        names = re.findall(r"{(\w+)", segment)
        if any(name in "".join(kept) for name in names):
            continue
        kept.append(segment)
        if "{rest:path}" in segment:
            break
    return kept


@st.composite
def table_paths(draw: st.DrawFn) -> str:
    segments = draw(st.lists(st.one_of(TABLE_SEGMENTS, PARAM_SEGMENTS), max_size=4))
    return "/" + "/".join(drop_repeated_params(segments))


@st.composite
def route_tables(draw: st.DrawFn, depth: int = 0) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for _ in range(draw(st.integers(min_value=0, max_value=6 if depth == 0 else 3))):
        path = draw(table_paths())
        kind = draw(st.sampled_from(["route", "route", "route", "mount", "host"]))
        if kind == "mount" and depth < 2 and "{rest:path}" not in path:
            inner = draw(route_tables(depth + 1))
            routes.append(Mount(path.rstrip("/"), routes=inner))
        elif kind == "host":
            routes.append(Host(draw(st.sampled_from(["testserver", "other.org"])), app=echo_scope))
        else:
            methods = draw(st.one_of(st.none(), st.lists(METHODS, min_size=1, max_size=2)))
            routes.append(Route(path, says(path), methods=methods))
    return routes


def flatten_paths(routes: Sequence[BaseRoute]) -> list[str]:
    paths: list[str] = []
    for route in routes:
        paths.append(route.path)
        if isinstance(route, Mount):
            paths.extend(route.path + inner for inner in flatten_paths(route.routes))
    return paths


@st.composite
def tables_and_requests(draw: st.DrawFn) -> tuple[Router, Scope]:
    router = Router(routes=draw(route_tables()))
    # Most requests start from a path of the table, its params filled in, so they match.
    own_paths = [path for path in flatten_paths(router.routes) if path.startswith("/")]
    from_table = draw(st.integers(min_value=0, max_value=3)) > 0
    if own_paths and from_table:
        path = draw(st.sampled_from(own_paths))
        path = re.sub(r"{\w+:path}", lambda _: draw(st.sampled_from(["", "a/b", "7"])), path)
        path = re.sub(r"{\w+(:\w+)?}", lambda _: draw(st.sampled_from(["7", "me", "a\n"])), path)
        # Near misses at the end of the path: the other slash form, more text, a newline.
        path = draw(st.sampled_from([path, path.rstrip("/"), path[:-1]]))
        path += draw(st.sampled_from(["", "/", "7", "/7", "\n"]))
    else:
        path = "/" + "/".join(draw(st.lists(REQUEST_SEGMENTS, max_size=5)))
    root_path = draw(st.sampled_from(["", "", "/api"]))
    return router, http_scope(path or "/", method=draw(METHODS), root_path=root_path)


def first_matches(
    routes: Sequence[BaseRoute], scope: Scope
) -> tuple[BaseRoute | None, BaseRoute | None]:
    full: BaseRoute | None = None
    partial: BaseRoute | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL and full is None:
            full = route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return full, partial


@example((Router(routes=[Route("/users", echo_params)]), http_scope("/users\n")))
@given(tables_and_requests())
def test_route_tree_finds_the_same_first_full_and_partial_match_as_a_linear_scan(
    case: tuple[Router, Scope],
) -> None:
    router, scope = case
    linear_full, linear_partial = first_matches(router.routes, scope)
    tree_full, tree_partial = first_matches(router.candidates(route_path(scope)), scope)
    assert tree_full is linear_full
    assert tree_partial is linear_partial


@given(
    st.sampled_from(["str", "int", "float", "uuid", "path"]).flatmap(
        lambda name: st.tuples(st.just(name), PARAM_VALUES[name])
    )
)
def test_convertor_to_string_then_convert_gives_the_value_back(case: tuple[str, Any]) -> None:
    name, value = case
    convertor = CONVERTOR_TYPES[name]
    text = convertor.to_string(value)
    assert re.fullmatch(convertor.regex, text, re.DOTALL)
    assert convertor.convert(text) == value
