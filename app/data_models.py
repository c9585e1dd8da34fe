"""Request and response bodies. Clients compare responses for exact equality: no extra keys."""

from typing import Annotated

from pydantic import BaseModel, Field

# Strict: "0.5" and true are not coordinates; NaN and Infinity are not finite.
UnitInterval = Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]
# Any non-empty label up to 255 characters (clients send things like "kqzjvhtwmbxa/3", not UUIDs).
# NUL is refused because PostgreSQL text cannot hold it.
PageUuid = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$", strict=True)]


class Coordinates(BaseModel):
    x: UnitInterval
    y: UnitInterval


class NewClickRequest(BaseModel):
    page_uuid: PageUuid
    coordinates: Coordinates


class NewClickResponse(BaseModel):
    cluster_idx: int
    is_new: bool


class PredictClickResponse(BaseModel):
    cluster_idx: int | None


class VersionResponse(BaseModel):
    version: int


class StatusResponse(BaseModel):
    status: str


class ErrorResponse(BaseModel):
    detail: str
