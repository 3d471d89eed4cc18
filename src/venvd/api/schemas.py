"""Request bodies of the HTTP API (responses are the lock / environment JSON documents)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Format", "ResolveBody", "ShorthandTarget"]

Format = Literal["json", "requirements", "pylock"]


class ShorthandTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    python: str | None = Field(default=None, examples=["3.11", "2.7.6"])
    platform: str | None = Field(
        None, examples=["manylinux_2_28_x86_64", "linux_x86_64", "win_amd64"]
    )


class CompletePlatform(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marker_environment: dict[str, str]
    compatible_tags: list[str]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prereleases: bool = False
    exclude_newer: str | None = Field(default=None, examples=["2024-06-01T00:00:00Z"])
    only_binary: list[str] = Field(default_factory=list)
    no_binary: list[str] = Field(default_factory=list)


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requirements: list[str] = Field(..., min_length=1, examples=[["django>=1.8", "requests>=2.7"]])
    constraints: list[str] = Field(default_factory=list)
    target: ShorthandTarget | CompletePlatform
    options: Options = Field(default_factory=lambda: Options())
    format: Format | None = None

    def target_json(self) -> dict[str, Any]:
        return self.target.model_dump(exclude_none=True)
