from ferry.asgi import App, JSONResponse, Request, Response, Route


async def hello(request: Request) -> Response:
    return JSONResponse({"hello": request.query_params.get("name", "world")})


app = App(routes=[Route("/", hello)])
