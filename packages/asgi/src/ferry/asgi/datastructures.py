"""Values the toolkit hands to endpoints: URL, headers, query parameters, forms, state.

Each parses lazily from the ASGI scope's own data and never from anything the client could
use to change the request's meaning elsewhere (the URL's path comes from the scope, never
from the `Host` header).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any, BinaryIO, Generic, NamedTuple, TypeVar, cast, overload
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.types import Scope

_K = TypeVar("_K")
_V = TypeVar("_V")


class Address(NamedTuple):
    """A client or server address: `host` and `port` (unpacks as a pair)."""

    host: str
    port: int


class URL:
    """An immutable URL with its parts; `replace()` and friends return new URLs.

    Example:
        >>> URL("https://example.org:8443/a?b=1").replace(path="/c").path
        '/c'
    """

    __slots__ = ("_components", "_url")

    def __init__(self, url: str = "", scope: Scope | None = None, **components: Any) -> None:
        if scope is not None:
            url = _url_from_scope(scope)
        elif components:
            url = URL("").replace(**components).components.geturl()
        self._url = url
        self._components: SplitResult | None = None

    @property
    def components(self) -> SplitResult:
        """The `urllib.parse.SplitResult` of this URL."""
        if self._components is None:
            self._components = urlsplit(self._url)
        return self._components

    @property
    def scheme(self) -> str:
        """The scheme, e.g. "https"."""
        return self.components.scheme

    @property
    def netloc(self) -> str:
        """The host and port part."""
        return self.components.netloc

    @property
    def path(self) -> str:
        """The path, still percent-encoded."""
        return self.components.path

    @property
    def query(self) -> str:
        """The query string, without "?"."""
        return self.components.query

    @property
    def fragment(self) -> str:
        """The fragment, without "#"."""
        return self.components.fragment

    @property
    def username(self) -> str | None:
        """The user name of the userinfo part, if any."""
        return self.components.username

    @property
    def password(self) -> str | None:
        """The password of the userinfo part, if any."""
        return self.components.password

    @property
    def hostname(self) -> str | None:
        """The host name, lowercased, without brackets or port."""
        return self.components.hostname

    @property
    def port(self) -> int | None:
        """The explicit port, if any."""
        return self.components.port

    @property
    def is_secure(self) -> bool:
        """True for https and wss."""
        return self.scheme in ("https", "wss")

    def replace(self, **kwargs: Any) -> URL:
        """A copy with some parts replaced: scheme, netloc, path, query, fragment, or
        hostname / port / username / password (which rebuild the netloc)."""
        if {"username", "password", "hostname", "port"} & kwargs.keys():
            hostname = kwargs.pop("hostname", None)
            port = kwargs.pop("port", self.port)
            username = kwargs.pop("username", self.username)
            password = kwargs.pop("password", self.password)
            if hostname is None:
                netloc = self.netloc
                _, _, hostname = netloc.rpartition("@")
                if hostname[-1:] != "]":
                    hostname = hostname.rsplit(":", 1)[0]
            netloc = hostname
            if port is not None:
                netloc += f":{port}"
            if username is not None:
                userpass = username
                if password is not None:
                    userpass += f":{password}"
                netloc = f"{userpass}@{netloc}"
            kwargs["netloc"] = netloc
        return URL(self.components._replace(**kwargs).geturl())

    def include_query_params(self, **kwargs: Any) -> URL:
        """A copy with these query parameters added or replaced."""
        params = MultiDict(parse_qsl(self.query, keep_blank_values=True))
        params.update({str(key): str(value) for key, value in kwargs.items()})
        return self.replace(query=urlencode(params.multi_items()))

    def replace_query_params(self, **kwargs: Any) -> URL:
        """A copy whose query is exactly these parameters."""
        return self.replace(query=urlencode([(str(k), str(v)) for k, v in kwargs.items()]))

    def remove_query_params(self, keys: str | Sequence[str]) -> URL:
        """A copy without these query parameters."""
        if isinstance(keys, str):
            keys = [keys]
        params = MultiDict(parse_qsl(self.query, keep_blank_values=True))
        for key in keys:
            params.pop(key, None)
        return self.replace(query=urlencode(params.multi_items()))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._url)

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        url = self._url
        if self.password:
            url = str(self.replace(password="********"))
        return f"{type(self).__name__}({url!r})"


def _url_from_scope(scope: Scope) -> str:
    # Only the scope's scheme, server and path are trusted. The Host header names the
    # host, but it is checked to be a plain host[:port] so that it can never inject a
    # path, query or userinfo into the URL (Host header poisoning).
    scheme = scope.get("scheme", "http")
    server = scope.get("server")
    path = scope["path"]
    query_string = scope.get("query_string", b"")
    host = None
    for key, value in scope["headers"]:
        if key == b"host":
            host = value.decode("latin-1")
            break
    if host is not None and not _is_plain_host(host):
        host = None
    if host is None and server is not None:
        server_host, port = server
        if ":" in server_host:  # an IPv6 address needs its brackets in a URL
            server_host = f"[{server_host}]"
        default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
        host = server_host if port in (default_port, None) else f"{server_host}:{port}"
    url = f"{scheme}://{host}{path}" if host else path
    if query_string:
        url += "?" + query_string.decode("latin-1")
    return url


# RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host is a name, an IPv4 address or an
# IP literal in brackets (RFC 3986 §3.2.2).
_HOST_PATTERN = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Za-z.:]+\])(?::[0-9]*)?")


def _is_plain_host(host: str) -> bool:
    if _HOST_PATTERN.fullmatch(host) is None:
        return False
    try:
        # urlsplit is the judge of what URL.port and URL.hostname will accept later: a
        # port over 65535 or a bad IP literal would make them raise on every access.
        _ = urlsplit("//" + host).port
    except ValueError:
        return False
    return True


class ImmutableMultiDict(Mapping[_K, _V], Generic[_K, _V]):
    """A read-only mapping whose keys may repeat: `d[k]` is the last value, `getlist(k)`
    every value, in order."""

    __slots__ = ("_dict", "_list")

    def __init__(
        self,
        *args: ImmutableMultiDict[_K, _V] | Mapping[_K, _V] | Iterable[tuple[_K, _V]],
        **kwargs: Any,
    ) -> None:
        assert len(args) < 2, "too many arguments"
        value: Any = args[0] if args else []
        if kwargs:
            value = ImmutableMultiDict(value).multi_items() + list(kwargs.items())
        items: list[tuple[_K, _V]]
        if not value:
            items = []
        elif isinstance(value, ImmutableMultiDict):
            items = value.multi_items()
        elif isinstance(value, Mapping):
            items = list(value.items())
        else:
            items = list(value)
        self._list = items
        self._dict = dict(items)

    def getlist(self, key: Any) -> list[_V]:
        """Every value for `key`, in order; empty when there is none."""
        return [item_value for item_key, item_value in self._list if item_key == key]

    def multi_items(self) -> list[tuple[_K, _V]]:
        """Every (key, value) pair, repeats included, in order."""
        return list(self._list)

    def keys(self) -> KeysView[_K]:
        return self._dict.keys()

    def values(self) -> ValuesView[_V]:
        return self._dict.values()

    def items(self) -> ItemsView[_K, _V]:
        return self._dict.items()

    def __getitem__(self, key: _K) -> _V:
        return self._dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[_K]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return False
        return sorted(self._list, key=repr) == sorted(other._list, key=repr)

    def __hash__(self) -> int:  # pragma: no cover - unhashable like dict
        raise TypeError(f"unhashable type: {type(self).__name__!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.multi_items()!r})"


class MultiDict(ImmutableMultiDict[Any, Any]):
    """A mutable `ImmutableMultiDict`."""

    def __setitem__(self, key: Any, value: Any) -> None:
        self.setlist(key, [value])

    def __delitem__(self, key: Any) -> None:
        self._list = [(k, v) for k, v in self._list if k != key]
        del self._dict[key]

    def pop(self, key: Any, default: Any = None) -> Any:
        """Remove every value of `key`; return the last one (or `default`)."""
        self._list = [(k, v) for k, v in self._list if k != key]
        return self._dict.pop(key, default)

    def setlist(self, key: Any, values: list[Any]) -> None:
        """Replace every value of `key` with `values` (none removes the key)."""
        if not values:
            self.pop(key, None)
            return
        self._list = [(k, v) for k, v in self._list if k != key] + [(key, v) for v in values]
        self._dict[key] = values[-1]

    def append(self, key: Any, value: Any) -> None:
        """Add one more value for `key`."""
        self._list.append((key, value))
        self._dict[key] = value

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Replace the values of the keys given (as `dict.update`, repeats kept)."""
        value = MultiDict(*args, **kwargs)
        existing = [(k, v) for k, v in self._list if k not in value]
        self._list = existing + value.multi_items()
        self._dict.update(value)


def parse_query_string(query: str) -> list[tuple[str, str]]:
    """The query string's `(name, value)` pairs, blank values kept, as `parse_qsl` gives them.

    Example:
        >>> parse_query_string("a=1&b&c=x=y")
        [('a', '1'), ('b', ''), ('c', 'x=y')]
    """
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    # Nothing to unquote, the common case: parse_qsl would split the same way, then call
    # unquote on each name and value only to get each one back unchanged.
    pairs: list[tuple[str, str]] = []
    for field in query.split("&"):
        if field:  # "a=1&&b=2": parse_qsl skips the empty field too
            name, _, value = field.partition("=")
            pairs.append((name, value))
    return pairs


class QueryParams(ImmutableMultiDict[str, str]):
    """The query string's parameters; repeated keys keep every value.

    Example:
        >>> QueryParams("a=1&a=2&b=").getlist("a")
        ['1', '2']
    """

    def __init__(
        self,
        *args: ImmutableMultiDict[Any, Any]
        | Mapping[Any, Any]
        | list[tuple[Any, Any]]
        | str
        | bytes,
        **kwargs: Any,
    ) -> None:
        value = args[0] if args else []
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):
            value = parse_query_string(value)
            if not kwargs:
                # A query string, the common case: parse_qsl's pairs are str already.
                self._list = value
                self._dict = dict(value)
                return
        super().__init__(cast(Any, value), **kwargs)
        self._list = [(str(k), str(v)) for k, v in self._list]
        self._dict = {str(k): str(v) for k, v in self._dict.items()}

    def __str__(self) -> str:
        return urlencode(self._list)


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive, multi-valued HTTP headers.

    Built from the scope (`Headers(scope=scope)`), from raw `(bytes, bytes)` pairs, or from a
    plain mapping. `headers["content-type"]` is the first value; `getlist()` gives all.
    """

    __slots__ = ("_list",)

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        raw: list[tuple[bytes, bytes]] | None = None,
        scope: Scope | None = None,
    ) -> None:
        self._list: list[tuple[bytes, bytes]] = []
        if headers is not None:
            if raw is not None or scope is not None:
                raise TypeError("give one of headers, raw or scope")
            self._list = [
                (key.lower().encode("latin-1"), value.encode("latin-1"))
                for key, value in headers.items()
            ]
        elif raw is not None:
            if scope is not None:
                raise TypeError("give one of headers, raw or scope")
            self._list = raw
        elif scope is not None:
            # The scope's list is shared, not copied, so MutableHeaders(scope=...) changes
            # the headers the next app sees (what a middleware wants).
            raw_headers = scope["headers"]
            if not isinstance(raw_headers, list):
                raw_headers = scope["headers"] = list(raw_headers)
            self._list = raw_headers

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers as (lowercased name, value) bytes pairs."""
        return self._list

    def keys(self) -> list[str]:  # type: ignore[override]
        return [key.decode("latin-1") for key, _ in self._list]

    def values(self) -> list[str]:  # type: ignore[override]
        return [value.decode("latin-1") for _, value in self._list]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(key.decode("latin-1"), value.decode("latin-1")) for key, value in self._list]

    def getlist(self, key: str) -> list[str]:
        """Every value of header `key`, in order."""
        wanted = key.lower().encode("latin-1")
        return [value.decode("latin-1") for name, value in self._list if name == wanted]

    def mutablecopy(self) -> MutableHeaders:
        """A `MutableHeaders` copy."""
        return MutableHeaders(raw=self._list[:])

    def __getitem__(self, key: str) -> str:
        wanted = key.lower().encode("latin-1")
        for name, value in self._list:
            if name == wanted:
                return value.decode("latin-1")
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        wanted = key.lower().encode("latin-1")
        return any(name == wanted for name, _ in self._list)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._list)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return False
        return sorted(self._list) == sorted(other._list)

    def __hash__(self) -> int:  # pragma: no cover - unhashable like dict
        raise TypeError(f"unhashable type: {type(self).__name__!r}")

    def __repr__(self) -> str:
        as_dict = dict(self.items())
        if len(as_dict) == len(self):
            return f"{type(self).__name__}({as_dict!r})"
        return f"{type(self).__name__}(raw={self.raw!r})"


class MutableHeaders(Headers):
    """Headers that can be changed; every value is checked for CR, LF and NUL."""

    def __setitem__(self, key: str, value: str) -> None:
        """Set header `key` to a single `value`, replacing every earlier value."""
        name, encoded = _encode_header(key, value)
        found = False
        kept: list[tuple[bytes, bytes]] = []
        for item in self._list:
            if item[0] != name:
                kept.append(item)
            elif not found:
                kept.append((name, encoded))
                found = True
        if not found:
            kept.append((name, encoded))
        self._list[:] = kept

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self._list[:] = [item for item in self._list if item[0] != name]

    def __ior__(self, other: Mapping[str, str]) -> MutableHeaders:
        self.update(other)
        return self

    def __or__(self, other: Mapping[str, str]) -> MutableHeaders:
        new = self.mutablecopy()
        new.update(other)
        return new

    def setdefault(self, key: str, value: str) -> str:
        """Set `key` to `value` unless it is set; return its value."""
        if key in self:
            return self[key]
        self[key] = value
        return value

    def update(self, other: Mapping[str, str]) -> None:
        """Set each header of `other`."""
        for key, value in other.items():
            self[key] = value

    def append(self, key: str, value: str) -> None:
        """Add a value for `key`, keeping the ones it has."""
        self._list.append(_encode_header(key, value))

    def add_vary_header(self, vary: str) -> None:
        """Add `vary` to the `Vary` header."""
        existing = self.get("vary")
        self["vary"] = f"{existing}, {vary}" if existing else vary


def _encode_header(key: str, value: str) -> tuple[bytes, bytes]:
    # RFC 9110 §5.5: a field value never holds CR, LF or NUL; refusing them here means a
    # header can never split a response, whatever the server does.
    if any(char in value for char in "\r\n\0") or any(char in key for char in "\r\n\0: "):
        raise ValueError(f"invalid header {key!r}: {value!r}")
    return key.lower().encode("latin-1"), value.encode("latin-1")


class State:
    """An object for arbitrary attributes: `request.state.user = ...`.

    Backed by a dict, which the lifespan state or the scope's state may share.
    """

    _state: dict[str, Any]

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__setattr__("_state", state if state is not None else {})

    def __setattr__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self._state[key]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {key!r}") from None

    def __delattr__(self, key: str) -> None:
        del self._state[key]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._state!r})"


class UploadFile:
    """An uploaded file: a spooled temporary file (in memory until `max_size` bytes, then on
    disk), with async methods that move disk I/O off the event loop.

    Attributes:
        filename: the name the client gave, or None.
        size: the bytes written so far.
        headers: the part's headers.
        file: the underlying file object.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        size: int | None = None,
        filename: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        self.filename = filename
        self.file = file
        self.size = size
        self.headers = headers or Headers()

    @property
    def content_type(self) -> str | None:
        """The part's Content-Type, if given."""
        return self.headers.get("content-type")

    @property
    def _in_memory(self) -> bool:
        # A SpooledTemporaryFile that has not rolled over keeps its data in memory; only
        # disk I/O is worth a thread.
        rolled_to_disk = getattr(self.file, "_rolled", True)
        return not rolled_to_disk

    async def write(self, data: bytes) -> None:
        """Append `data`, in a worker thread once the file lives on disk or may roll over."""
        if self.size is not None:
            self.size += len(data)
        if self._in_memory and not self._will_roll_over(len(data)):
            self.file.write(data)
        else:
            await run_in_threadpool(self.file.write, data)

    def _will_roll_over(self, extra: int) -> bool:
        max_size = getattr(self.file, "_max_size", 0)
        return bool(max_size) and self.file.tell() + extra > max_size

    async def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes (all by default)."""
        if self._in_memory:
            return self.file.read(size)
        return await run_in_threadpool(self.file.read, size)

    async def seek(self, offset: int) -> None:
        """Move to `offset`."""
        if self._in_memory:
            self.file.seek(offset)
        else:
            await run_in_threadpool(self.file.seek, offset)

    async def close(self) -> None:
        """Close the file (and delete it from disk if it was spooled there)."""
        if self._in_memory:
            self.file.close()
        else:
            await run_in_threadpool(self.file.close)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(filename={self.filename!r}, size={self.size!r}, "
            f"headers={self.headers!r})"
        )


def spooled_file(max_memory_bytes: int = 1024 * 1024) -> BinaryIO:
    """A temporary file that stays in memory up to `max_memory_bytes`, then moves to disk."""
    return cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=max_memory_bytes))


class FormData(ImmutableMultiDict[str, "UploadFile | str"]):
    """A parsed form: text fields as `str`, file fields as `UploadFile`."""

    async def close(self) -> None:
        """Close every uploaded file of the form."""
        for _, value in self.multi_items():
            if isinstance(value, UploadFile):
                await value.close()


class CommaSeparatedStrings(Sequence[str]):
    """A comma-separated value as a sequence of stripped strings."""

    def __init__(self, value: str | Sequence[str]) -> None:
        if isinstance(value, str):
            self._items = [item.strip() for item in value.split(",") if item.strip()]
        else:
            self._items = list(value)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __str__(self) -> str:
        return ", ".join(self._items)
