"""Request and response bodies. Clients compare responses for exact equality: no extra keys."""

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

# Strict: "0.5" and true are not coordinates; NaN and Infinity are not finite.
UnitInterval = Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]
# Any non-empty label up to 255 characters (clients send things like "kqzjvhtwmbxa/3", not UUIDs).
# NUL is refused because PostgreSQL text cannot hold it.
PageUuid = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$", strict=True)]


class Coordinates(BaseModel):
    x: UnitInterval
    y: UnitInterval


# The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): 1 to 255 printable
# ASCII characters, compared as sent (the draft's quotes, if any, are part of the key); not
# starting or ending with a space, which a proxy could trim off a retry's header.
IdempotencyKey = Annotated[
    str, Field(pattern=r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$", strict=True)
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
    radius: float  # the root mean square distance of the member clicks from the centroid


# http or https, a host, and no spaces or control characters. The server never fetches it.
HTTP_URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\x00-\x20]+([/?#][^\x00-\x20]*)?$"


def _http_url(value: str) -> str:
    if not re.fullmatch(HTTP_URL, value):
        raise ValueError("must be an http or https URL, without spaces")
    return value


# An image for the browser to fetch. The pattern is the schema's; the validator says it plainly.
ImageUrl = Annotated[
    str,
    Field(max_length=2048, strict=True, json_schema_extra={"pattern": HTTP_URL}),
    AfterValidator(_http_url),
]


class HeatmapRequest(ClustersRequest):
    background: ImageUrl | None = None

    @model_validator(mode="before")
    @classmethod
    def empty_is_absent(cls, data: Any) -> Any:
        # An HTML form sends the fields left blank as empty parameters.
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if value != ""}
        return data


PagesSort = Literal["clicks", "recent"]  # most clicks first, or latest click first


class PageSummary(BaseModel):
    page_uuid: str
    clicks: int
    clusters: int
    last_click_at: datetime


class PagesCursor(BaseModel):
    """Where a list of pages goes on: after this page, whose sort key was `key`. Clients see it
    as an opaque string."""

    sort: PagesSort
    key: int | datetime
    page_uuid: PageUuid

    @model_validator(mode="after")
    def key_of_its_sort(self) -> "PagesCursor":
        # A forged cursor must not reach SQL with a key of the other sort's type.
        if isinstance(self.key, datetime) != (self.sort == "recent"):
            raise ValueError("the cursor's key does not fit its sort")
        return self

    @classmethod
    def after(cls, sort: PagesSort, page: PageSummary) -> "PagesCursor":
        key = page.clicks if sort == "clicks" else page.last_click_at
        return cls(sort=sort, key=key, page_uuid=page.page_uuid)

    def encode(self) -> str:
        return base64.urlsafe_b64encode(self.model_dump_json().encode()).decode()

    @classmethod
    def decode(cls, text: str) -> "PagesCursor":
        try:
            return cls.model_validate_json(base64.urlsafe_b64decode(text.encode()))
        except (ValueError, binascii.Error) as error:
            raise ValueError("not a cursor this service gave") from error


class PagesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(default="", max_length=255, pattern=r"^[^\x00]*$")  # no NUL, as page_uuid
    sort: PagesSort = "clicks"
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: str | None = None  # the `next_cursor` of the previous answer, with the same sort

    @field_validator("cursor")
    @classmethod
    def cursor_is_ours(cls, cursor: str | None) -> str | None:
        if cursor is not None:
            PagesCursor.decode(cursor)
        return cursor

    @model_validator(mode="after")
    def cursor_of_this_sort(self) -> "PagesRequest":
        if self.after is not None and self.after.sort != self.sort:
            raise ValueError(f"cursor is for sort={self.after.sort}, not sort={self.sort}")
        return self

    @property
    def after(self) -> PagesCursor | None:
        """Where the previous answer ended."""
        return None if self.cursor is None else PagesCursor.decode(self.cursor)


class PagesResponse(BaseModel):
    pages: list[PageSummary]
    next_cursor: str | None  # null on the last page of results


class StatusResponse(BaseModel):
    status: str


class ErrorResponse(BaseModel):
    detail: str
