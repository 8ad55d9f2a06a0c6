from typing import Annotated

from ferry.api import App, Query

app = App(title="Hello")


@app.get("/hello")
async def hello(name: Annotated[str, Query(max_length=50)] = "world") -> dict[str, str]:
    return {"hello": name}
