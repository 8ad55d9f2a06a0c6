"""ferry.asgi: the ASGI toolkit. Requests, responses, routing and middleware.

Everything is an ASGI app: the `App`, each middleware, the `Router`, each route and each
response. The names and arguments follow Starlette's, so a Starlette app ports by changing
its imports (and `Starlette` to `App`).

    from ferry.asgi import App, JSONResponse, Route

    async def hello(request):
        return JSONResponse({"hello": request.query_params.get("name", "world")})

    app = App(routes=[Route("/", hello)])
"""

from ferry.asgi.app import App
from ferry.asgi.background import BackgroundTask, BackgroundTasks
from ferry.asgi.concurrency import iterate_in_threadpool, run_in_threadpool
from ferry.asgi.converters import Convertor, register_url_convertor
from ferry.asgi.datastructures import (
    URL,
    Address,
    CommaSeparatedStrings,
    FormData,
    Headers,
    ImmutableMultiDict,
    MultiDict,
    MutableHeaders,
    QueryParams,
    State,
    UploadFile,
)
from ferry.asgi.endpoints import HTTPEndpoint, WebSocketEndpoint
from ferry.asgi.exceptions import (
    ClientDisconnect,
    HTTPException,
    InvalidJSON,
    MalformedRequest,
    MultiPartException,
    NoMatchFound,
    WebSocketException,
)
from ferry.asgi.files import FileResponse
from ferry.asgi.middleware import (
    CORSMiddleware,
    ExceptionMiddleware,
    GZipMiddleware,
    HTTPMiddleware,
    HTTPSRedirectMiddleware,
    Middleware,
    ServerErrorMiddleware,
    SessionMiddleware,
    TrustedHostMiddleware,
)
from ferry.asgi.requests import HTTPConnection, Request
from ferry.asgi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from ferry.asgi.routing import (
    BaseRoute,
    Host,
    Match,
    Mount,
    Route,
    Router,
    URLPath,
    WebSocketRoute,
)
from ferry.asgi.staticfiles import StaticFiles
from ferry.asgi.types import ASGIApp, Message, Receive, Scope, Send
from ferry.asgi.websockets import WebSocket, WebSocketClose, WebSocketDisconnect, WebSocketState

__version__ = "0.1.0"

__all__ = [
    "URL",
    "ASGIApp",
    "Address",
    "App",
    "BackgroundTask",
    "BackgroundTasks",
    "BaseRoute",
    "CORSMiddleware",
    "ClientDisconnect",
    "CommaSeparatedStrings",
    "Convertor",
    "ExceptionMiddleware",
    "FileResponse",
    "FormData",
    "GZipMiddleware",
    "HTMLResponse",
    "HTTPConnection",
    "HTTPEndpoint",
    "HTTPException",
    "HTTPMiddleware",
    "HTTPSRedirectMiddleware",
    "Headers",
    "Host",
    "ImmutableMultiDict",
    "InvalidJSON",
    "JSONResponse",
    "MalformedRequest",
    "Match",
    "Message",
    "Middleware",
    "Mount",
    "MultiDict",
    "MultiPartException",
    "MutableHeaders",
    "NoMatchFound",
    "PlainTextResponse",
    "QueryParams",
    "Receive",
    "RedirectResponse",
    "Request",
    "Response",
    "Route",
    "Router",
    "Scope",
    "Send",
    "ServerErrorMiddleware",
    "SessionMiddleware",
    "StaticFiles",
    "State",
    "StreamingResponse",
    "TrustedHostMiddleware",
    "URLPath",
    "UploadFile",
    "WebSocket",
    "WebSocketClose",
    "WebSocketDisconnect",
    "WebSocketEndpoint",
    "WebSocketException",
    "WebSocketRoute",
    "WebSocketState",
    "__version__",
    "iterate_in_threadpool",
    "register_url_convertor",
    "run_in_threadpool",
]
