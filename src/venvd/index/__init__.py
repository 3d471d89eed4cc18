"""Index access: PEP 503/691 simple indexes, find-links, core metadata and verified downloads.

    config = IndexConfig(index_urls=("https://pypi.org/simple/",), find_links=("./wheels",))
    with IndexClient(config) as index:
        page = index.project_page("six")              # ProjectPage | NotModified | None
        meta = index.fetch_metadata(page.files[-1])   # CoreMetadata
        index.download(file.url, file.sha256, dest)   # verified, atomically renamed into place

Several indexes use the first-index strategy: a project is taken only from the first index that has
it, so a public upload cannot shadow a private package. This layer imports only `venvd.dist` and
`venvd.errors`; it never touches the store, resolver or builder.
"""

from __future__ import annotations

from ._client import IndexClient, NotModified, ProjectPage
from ._config import IndexConfig

__all__ = ["IndexClient", "IndexConfig", "NotModified", "ProjectPage"]
