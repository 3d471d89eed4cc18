"""Response models of the impact routes (`routers/packages.py`, `routers/inventory.py`,
`routers/advisories.py`): the shapes `venvd.service._impact` documents, for the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["AdvisoryImpact", "AdvisoryImpactList", "EnvironmentItem", "EnvironmentPage",
           "GraphAnswer", "GraphEdge", "GraphNode", "ImportResult", "PackageEnvironments", "PackageItem",
           "PackageList", "TargetLabel", "WhyAnswer"]


class TargetLabel(BaseModel):
    key: str = Field(description="The target key (part of the environment id)")
    label: str = Field(description="A short human name: interpreter and platform tag",
                       examples=["cp311 manylinux_2_28_x86_64"])


class EnvironmentItem(BaseModel):
    id: str
    roots: list[str] = Field(description="The requested project names (canonical)")
    target: TargetLabel
    status: str = Field(examples=["ready"])
    size: int | None = Field(description="Artifact bytes, when built")
    created: str = Field(description="ISO 8601")
    last_used: str | None = Field(description="When last served (ISO 8601, to about a minute)")
    version: str | None = Field(None, description="The version held of the package asked about")


class EnvironmentPage(BaseModel):
    items: list[EnvironmentItem]
    total: int = Field(description="Matches in all (the page holds at most `limit`)")
    limit: int
    offset: int


class PackageEnvironments(EnvironmentPage):
    package: str
    specifier: str


class WhyAnswer(BaseModel):
    environment: str
    package: str
    version: str
    paths: list[list[str]] = Field(description="Shortest chains [root, ..., package]")


class PackageItem(BaseModel):
    name: str
    versions: list[str] = Field(description="Versions held, newest first")
    environments: int = Field(description="Environments holding it")


class PackageList(BaseModel):
    items: list[PackageItem]


class GraphNode(BaseModel):
    name: str
    version: str
    is_root: bool


class GraphEdge(BaseModel):
    parent: str
    child: str


class GraphAnswer(BaseModel):
    environment: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class ImportResult(BaseModel):
    imported: list[str] = Field(description="Advisory ids stored or replaced")
    unchanged: list[str] = Field(description="Already stored with the same or a newer `modified`")
    skipped: list[str] = Field(description="Withdrawn, or with no PyPI package affected")


class AdvisoryImpact(BaseModel):
    advisory: str
    aliases: list[str]
    summary: str
    package: str
    version: str = Field(description="The version the environment holds")
    fixed: str | None = Field(description="The lowest fixed version above the one held (null: "
                                          "no fix known)")
    environment: EnvironmentItem


class AdvisoryImpactList(BaseModel):
    items: list[AdvisoryImpact]
    total: int
    limit: int
    offset: int
