"""Tutorial, step 2: a pydantic model for the request body, another for the response."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ferry.api import App, HTTPException, status

app = App(title="Accounts")


class AccountIn(BaseModel):
    """What a client sends: validated before the endpoint runs (422 otherwise)."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=50)
    password: str = Field(min_length=8)


class AccountOut(BaseModel):
    """What a client gets back: no password, whatever the endpoint returns."""

    id: int
    email: str
    name: str


ACCOUNTS: dict[int, AccountIn] = {}


@app.post("/accounts", status_code=status.HTTP_201_CREATED, response_model=AccountOut)
async def create_account(account: AccountIn) -> dict[str, object]:
    """The body is JSON for AccountIn; the answer is filtered through AccountOut."""
    account_id = len(ACCOUNTS) + 1
    ACCOUNTS[account_id] = account
    return {"id": account_id, **account.model_dump()}  # the password is dropped


@app.get("/accounts/{account_id}")
async def read_account(account_id: int) -> AccountOut:
    """The return annotation is the response model when no response_model is given."""
    if account_id not in ACCOUNTS:
        raise HTTPException(404, detail="account not found")
    return AccountOut(id=account_id, **ACCOUNTS[account_id].model_dump(exclude={"password"}))
