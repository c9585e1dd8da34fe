"""Request and response bodies. Clients compare responses for exact equality: no extra keys."""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# Strict: "0.5" and true are not coordinates; NaN and Infinity are not finite.
UnitInterval = Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]
# Any non-empty label up to 255 characters (clients send things like "kqzjvhtwmbxa/3", not UUIDs).
# NUL is refused because PostgreSQL text cannot hold it.
PageUuid = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$", strict=True)]


class Coordinates(BaseModel):
    x: UnitInterval
    y: UnitInterval


def _unquote(value: object) -> object:
    # The draft writes the key as a structured-field string, "abc"; bare abc names the same key.
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


# The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): 1 to 255 printable
# ASCII characters, quoted or not.
IdempotencyKey = Annotated[
    str, BeforeValidator(_unquote), Field(pattern=r"^[\x20-\x7e]{1,255}$", strict=True)
]


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


class Cluster(BaseModel):
    cluster_idx: int
    all_coordinates: list[Coordinates]


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown query parameter is a mistake

    page_uuid: PageUuid


class GetBestClusterRequest(PageQuery):
    limit: int | None = Field(
        default=None, ge=1, description="At most this many clicks; all if unset"
    )


class GetBestClusterResponse(BaseModel):
    cluster: Cluster


# A date-time's UTC offset at its end: sign, hours, and minutes with or without a colon.
_OFFSET = re.compile(
    r"(?P<time>[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)"
    r"(?P<sign>[ +-])(?P<hours>\d{2})(?P<minutes>:?\d{2})?$"
)


def _offset(match: re.Match[str]) -> str:
    # A `+` typed in a URL arrives as a space; pydantic takes ±HH:MM and ±HHMM but not ±HH.
    sign = "+" if match["sign"] == " " else match["sign"]
    return f"{match['time']}{sign}{match['hours']}{match['minutes'] or ':00'}"


def _iso_8601(value: object) -> object:
    # pydantic would also take a bare number as a Unix timestamp; the API promises ISO 8601.
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
        return _OFFSET.sub(_offset, value)
    raise ValueError("must be an ISO 8601 date or date-time")


def _utc_if_naive(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# An ISO 8601 date or date-time; without an offset it is taken as UTC.
Instant = Annotated[datetime, BeforeValidator(_iso_8601), AfterValidator(_utc_if_naive)]


class ClustersRequest(PageQuery):
    since: Instant | None = None
    until: Instant | None = None


class ClusterSummary(BaseModel):
    cluster_idx: int
    size: int
    centroid: Coordinates
    radius: float  # the largest distance of a member click from the centroid


class StatusResponse(BaseModel):
    status: str


class ErrorResponse(BaseModel):
    detail: str
