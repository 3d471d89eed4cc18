"""conda ``environment.yml``: the parts a Python-index build server can honour.

- ``name`` becomes the document's label; ``channels`` are ignored with a notice (venvd installs
  from Python package indexes); ``prefix`` and ``variables`` likewise.
- ``dependencies``: ``python=3.X[.Y]`` (also ``python==``, ``python 3.X``, a ``.*`` or build
  string suffix, a ``channel::`` prefix) sets the Python version; ``pip`` itself is taken as given;
  any other conda package is an error listing them all, or with `skip_conda_packages` a warning
  listing what was left out.
- the ``pip:`` list is read as the lines of a requirements file in the environment.yml's folder
  (so its ``-r``/``-c`` lines are relative to it).

The YAML is read as nodes (PyYAML's safe composer), so every error names its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from venvd.errors import InvalidDocument
from venvd.inputs._document import Document, Provenance
from venvd.inputs._requirements import Opener, parse_requirements_text

__all__ = ["parse_environment_yml"]

_PYTHON = re.compile(
    r"^python\s*(?:==?|\s)\s*(?P<version>[0-9]+\.[0-9]+(?:\.[0-9]+)?)(?:\.\*)?(?:[=\s]\S+)?$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+")
_IGNORED_KEYS = ("channels", "prefix", "variables")


def parse_environment_yml(text: str, file: str = "environment.yml", *,
                          skip_conda_packages: bool = False, opener: Opener = None,
                          environ: Mapping[str, str] | None = None) -> Document:
    """The document an environment.yml describes; InvalidDocument naming file and line."""
    import yaml

    doc = Document(kind="environment.yml", file=file)
    try:
        # libyaml's composer when PyYAML has it: ten times faster than the pure-Python one
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and mark.line >= len(text.splitlines()):
            # found only at the end of the text: where the unclosed construct began says more
            mark = getattr(exc, "context_mark", None) or mark
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise doc.error(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    if not isinstance(root, yaml.MappingNode):
        raise doc.error("an environment.yml is a mapping with 'dependencies' (and 'name', "
                        "'channels')", _line(root))
    dependencies: Any = None
    for key_node, value in root.value:
        key = key_node.value
        if key == "name":
            doc.label = _scalar(doc, value, "name")
        elif key in _IGNORED_KEYS:
            doc.notices.append(f"{file}:{_line(key_node)}: '{key}' ignored (venvd installs from "
                               "Python package indexes, not conda channels)")
        elif key == "dependencies":
            dependencies = value
        else:
            doc.notices.append(f"{file}:{_line(key_node)}: unknown key {key!r} ignored")
    if dependencies is None:
        raise doc.error("no 'dependencies' list")
    if not isinstance(dependencies, yaml.SequenceNode):
        raise doc.error("'dependencies' must be a list", _line(dependencies))
    conda_packages: list[tuple[str, int]] = []
    pip_seen = False
    for item in dependencies.value:
        if isinstance(item, yaml.MappingNode):
            for key_node, value in item.value:
                if key_node.value != "pip":
                    raise doc.error(f"unknown dependency section {key_node.value!r} (only 'pip:' "
                                    "holds a list)", _line(key_node))
                if pip_seen:
                    raise doc.error("a second 'pip:' list", _line(key_node))
                pip_seen = True
                _pip_section(doc, value, file, opener, environ)
            continue
        spec = _scalar(doc, item, "a dependency").strip()
        spec = spec.split("::", 1)[-1].strip()  # conda-forge::python=3.11
        line = _line(item)
        name = _NAME.match(spec)
        bare = name.group(0).lower() if name else ""
        if bare == "python":
            _python(doc, spec, line)
        elif bare == "pip":
            continue  # venvd builds environments without running pip: nothing to install
        else:
            conda_packages.append((spec, line))
    if conda_packages:
        listed = ", ".join(f"{spec} (line {line})" for spec, line in conda_packages)
        if not skip_conda_packages:
            raise doc.error(
                f"conda packages other than python and pip cannot be installed from Python "
                f"package indexes: {listed}; list them under 'pip:' by their PyPI names, or "
                "pass --skip-conda-packages to leave them out",
                conda_packages[0][1], packages=[spec for spec, _ in conda_packages])
        doc.warnings.append(f"{file}: conda packages left out (--skip-conda-packages): {listed}")
    return doc


def _pip_section(doc: Document, node: Any, file: str, opener: Opener,
                 environ: Mapping[str, str] | None) -> None:
    import yaml

    if not isinstance(node, yaml.SequenceNode):
        raise doc.error("'pip:' must be a list of requirement lines", _line(node))
    # The pip list as a requirements file of its own, line for line, so its errors name the
    # environment.yml's lines; nested -r/-c are relative to the environment.yml's folder.
    last = max((_line(item) for item in node.value), default=0)
    lines = [""] * last
    for item in node.value:
        lines[_line(item) - 1] = _scalar(doc, item, "a pip requirement")
    try:
        nested = parse_requirements_text("\n".join(lines), file, environ=environ, opener=opener)
    except InvalidDocument as exc:
        if exc.details.get("file") == file:
            exc.details["kind"] = "environment.yml"  # a line of the pip: list, not of a nested file
        raise
    nested.kind = "environment.yml"
    label, python = doc.label, doc.python
    doc.merge(nested)
    doc.label, doc.python = label, python


def _python(doc: Document, spec: str, line: int) -> None:
    if spec.lower() == "python":
        return  # any Python: the target's
    match = _PYTHON.match(spec.lower())
    if match is None:
        raise doc.error(f"{spec!r}: venvd takes the Python version as python=3.X or "
                        "python=3.X.Y", line)
    version = match.group("version")
    if doc.python and doc.python != version:
        raise doc.error(f"{spec!r} contradicts python={doc.python} given before", line)
    doc.python = version
    doc.python_origin = Provenance(doc.file, line)


def _scalar(doc: Document, node: Any, what: str) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise doc.error(f"{what} must be a string", _line(node))
    return str(node.value)


def _line(node: Any) -> int:
    mark = getattr(node, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 0
