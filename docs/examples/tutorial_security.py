"""Tutorial, step 4: OAuth2 with bearer tokens. Log in with a form, then send the token.

The passwords and tokens here are kept in memory and compared with `secrets.compare_digest`;
a real app stores password hashes and random tokens (the demo in apps/users does).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from pydantic import BaseModel

from ferry.api import App, Depends, HTTPException
from ferry.api.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

app = App(title="Security")

PASSWORDS = {"ada": "correct horse battery"}
TOKENS: dict[str, str] = {}  # token -> username

# Reads `Authorization: Bearer <token>`; answers 401 with `WWW-Authenticate: Bearer` without one.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token")


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class User(BaseModel):
    username: str


@app.post("/token")
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """The token endpoint: a form with `username` and `password` (RFC 6749 §4.3)."""
    expected = PASSWORDS.get(form.username)
    if expected is None or not secrets.compare_digest(expected, form.password):
        raise HTTPException(401, detail="wrong username or password")
    token = secrets.token_urlsafe(32)
    TOKENS[token] = form.username
    return Token(access_token=token)


async def current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> User:
    """The scheme finds the token; checking it is the app's job."""
    username = TOKENS.get(token)
    if username is None:
        raise HTTPException(401, detail="invalid token", headers={"WWW-Authenticate": "Bearer"})
    return User(username=username)


@app.get("/me")
async def read_me(user: Annotated[User, Depends(current_user)]) -> User:
    """Only for a client with a valid token."""
    return user
