"""The pydantic models every benchmark app shares, so all stacks validate the same data."""

from __future__ import annotations

from pydantic import BaseModel, Field


class User(BaseModel):
    """The response model of `GET /users/{user_id}` and `POST /users`: four fields."""

    id: int
    name: str
    email: str
    active: bool


class UserCreate(BaseModel):
    """The validated JSON body of `POST /users`."""

    name: str = Field(min_length=1, max_length=100)
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    age: int = Field(ge=0, le=150)


# The two links of the dependency chain answer with fixed values: the benchmark measures the
# framework's wiring, not the work a dependency would do.
SETTINGS = {"greeting": "hello"}
