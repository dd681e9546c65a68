"""An example resource to replace: async handlers, validated input, typed output."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

router = APIRouter(prefix="/items", tags=["items"])


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=0)


# In memory and per worker: a real service keeps this in its database.
ITEMS: dict[int, Item] = {}


@router.post("", status_code=201)
async def create(item: Item) -> dict[str, int]:
    item_id = max(ITEMS, default=0) + 1
    ITEMS[item_id] = item
    return {"id": item_id}


@router.get("/{item_id}")
async def read(item_id: int) -> Item:
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="no such item")
    return ITEMS[item_id]
