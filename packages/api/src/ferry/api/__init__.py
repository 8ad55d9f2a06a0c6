"""ferry.api: typed endpoints on ferry.asgi and pydantic v2.

    from ferry.api import App, Query

    app = App(title="Hello")

    @app.get("/hello")
    async def hello(name: str = Query("world", max_length=50)) -> dict[str, str]:
        return {"hello": name}

Porting a FastAPI app means changing its imports and `FastAPI` to `App`.
"""

from ferry.api import status
from ferry.api.app import App
from ferry.api.depends import Depends, Security, SecurityScopes
from ferry.api.encoders import jsonable_encoder
from ferry.api.exceptions import RequestValidationError, ResponseValidationError
from ferry.api.params import Body, Cookie, File, Form, Header, Path, Query
from ferry.api.routing import APIRoute, APIRouter, APIWebSocketRoute
from ferry.asgi.background import BackgroundTasks
from ferry.asgi.datastructures import UploadFile
from ferry.asgi.exceptions import HTTPException
from ferry.asgi.files import FileResponse
from ferry.asgi.requests import Request
from ferry.asgi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from ferry.asgi.websockets import WebSocket, WebSocketDisconnect

__version__ = "0.1.0"

__all__ = [
    "APIRoute",
    "APIRouter",
    "APIWebSocketRoute",
    "App",
    "BackgroundTasks",
    "Body",
    "Cookie",
    "Depends",
    "File",
    "FileResponse",
    "Form",
    "HTMLResponse",
    "HTTPException",
    "Header",
    "JSONResponse",
    "Path",
    "PlainTextResponse",
    "Query",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "ResponseValidationError",
    "Security",
    "SecurityScopes",
    "StreamingResponse",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "__version__",
    "jsonable_encoder",
    "status",
]
