"""Sphinx extension rendering the API reference from the module list in ``conf.py``.

``conf.py`` sets ``tnt_api_modules`` to ``{page: (title, [module, ...])}``. The directive
``.. tnt-api-modules:: PAGE`` expands, on that page, into one section per listed module that
exists in the tree, each holding an ``automodule`` with the module's own members.

Every object is documented once, where users import it from:

- a name defined in a public module is documented in that module;
- a public name a module takes from a private one (``torchtnt.utils.distributed`` re-exports
  ``spawn_multi_process`` from ``torchtnt.utils._spawn``) is documented in the first listed
  module exporting it;
- data (type aliases, TypeVars, constants) in a module's ``__all__`` is documented there,
  with its doc comment if it has one;
- a package's re-exports (its ``__all__``) are listed as links to those places; re-exported
  data documented nowhere else is documented in the package.

At the end of reading, every public module found under ``torchtnt/`` that no group lists is
reported as a warning, so a new module cannot silently miss the reference (``-W`` turns it
into an error).
"""

import importlib
import importlib.util
import inspect
import pkgutil
from types import ModuleType
from typing import Any, Dict, List, Optional, Set, Tuple

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_log = logging.getLogger(__name__)

ModuleGroups = Dict[str, Tuple[str, List[str]]]


def module_exists(name: str) -> bool:
    """Return True if ``name`` can be imported from the tree (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing too
        return False


def public_modules(package: str = "torchtnt") -> Set[str]:
    """Every importable module under ``package`` none of whose name parts starts with ``_``."""
    root = importlib.import_module(package)
    found = {package}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.add(info.name)
    return found


def _is_private_module(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def _defined_in_private_module(value: Any) -> bool:
    home = getattr(value, "__module__", None)
    return (
        isinstance(home, str)
        and home.split(".")[0] == "torchtnt"
        and _is_private_module(home)
        and not inspect.ismodule(value)
    )


def adopted_names(module: ModuleType) -> List[str]:
    """Public names that a (non-package) module exports but a private module defines.

    Names come from ``__all__`` when the module has one, else from its public globals.
    """
    if hasattr(module, "__path__"):
        return []
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    adopted = []
    for name in names:
        try:
            value = getattr(module, name)
        except Exception:  # a lazily loaded name whose module is missing or broken
            continue
        if _defined_in_private_module(value):
            adopted.append(name)
    return adopted


def _is_data(value: Any) -> bool:
    """Module-level values that are neither classes, functions nor modules (aliases,
    TypeVars, constants)."""
    return not (inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value))


def _is_foreign(value: Any) -> bool:
    """A class or function defined outside torchtnt (exported under a torchtnt alias)."""
    home = getattr(value, "__module__", None)
    return not _is_data(value) and not (isinstance(home, str) and home.startswith("torchtnt"))


def _attr_docs(module_name: str) -> Set[str]:
    """Module-level names that carry a doc comment or docstring in the source (autodoc
    documents those itself)."""
    try:
        analyzer = ModuleAnalyzer.for_module(module_name)
        analyzer.analyze()
    except PycodeError:
        return set()
    return {name for scope, name in analyzer.attr_docs if scope == ""}


class ApiIndex:
    """Where names that autodoc would not document by itself are documented.

    ``documented_at`` maps ``(name, id(obj))`` to the documented full name, for objects a
    module adopts from a private module, and for data (aliases, TypeVars, constants) and
    aliases of non-torchtnt classes listed in a module's ``__all__``; ``adopted`` lists, per
    module, the names it documents that way.
    """

    def __init__(self, groups: ModuleGroups) -> None:
        self.documented_at: Dict[Tuple[str, int], str] = {}
        self.adopted: Dict[str, List[str]] = {}
        for _, names in groups.values():
            for module_name in names:
                if module_exists(module_name):
                    self._index(importlib.import_module(module_name))

    def _index(self, module: ModuleType) -> None:
        mine = []
        candidates = adopted_names(module)
        if not hasattr(module, "__path__"):
            self_documented = _attr_docs(module.__name__)
            for name in getattr(module, "__all__", ()):
                value = getattr(module, name, None)
                if name in self_documented or name in candidates:
                    continue
                if _is_data(value) or _is_foreign(value):
                    candidates.append(name)
        for name in candidates:
            key = (name, id(getattr(module, name)))
            if key not in self.documented_at:
                self.documented_at[key] = f"{module.__name__}.{name}"
                mine.append(name)
        self.adopted[module.__name__] = mine

    def target(self, name: str, value: Any) -> Optional[str]:
        """The documented full name of ``value`` exported as ``name``; None if unknown."""
        if (name, id(value)) in self.documented_at:
            return self.documented_at[(name, id(value))]
        if _is_data(value):
            return None
        home = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if isinstance(home, str) and isinstance(qualname, str) and not _is_private_module(home):
            return f"{home}.{qualname}"
        return None


def _data_rst(full_name: str, value: Any) -> List[str]:
    lines = [f".. autodata:: {full_name}"]
    if len(repr(value)) > 80:  # a big table reads badly as a signature
        lines.append("   :no-value:")
    return lines + [""]


def _adopted_rst(module_name: str, index: ApiIndex) -> List[str]:
    module = importlib.import_module(module_name)
    lines: List[str] = []
    for name in index.adopted.get(module_name, []):
        value = getattr(module, name)
        if inspect.isclass(value) and _is_foreign(value):  # rendered as "alias of ..."
            lines += [f".. autoclass:: {module_name}.{name}", ""]
        elif inspect.isclass(value):
            lines += [f".. autoclass:: {module_name}.{name}", "   :members:", ""]
        elif inspect.isroutine(value):
            lines += [f".. autofunction:: {module_name}.{name}", ""]
        else:
            lines += _data_rst(f"{module_name}.{name}", value)
    return lines


def _reexports_rst(module_name: str, index: ApiIndex) -> List[str]:
    """For a package: a paragraph linking the names it re-exports, then the documentation of
    re-exported data (aliases) documented nowhere else.

    A name that cannot be loaded (its module has not landed) is listed as plain text.
    """
    module = importlib.import_module(module_name)
    if not hasattr(module, "__path__"):
        return []
    items: List[str] = []
    own_data: List[str] = []
    own_docs = _attr_docs(module_name)  # automodule documents these already
    for name in getattr(module, "__all__", ()):
        try:
            value = getattr(module, name)
        except Exception:  # a lazily loaded name whose module is missing or broken
            items.append(f"``{name}``")
            continue
        target = index.target(name, value)
        if target is None and _is_data(value) and name not in own_docs:
            own_data += _data_rst(f"{module_name}.{name}", value)
        elif target is None:
            items.append(f"``{name}``")
        elif not target.startswith(f"{module_name}.{name}"):
            items.append(f":py:obj:`{name} <{target}>`")
    lines: List[str] = []
    if items:
        lines += ["", f"Re-exports: {', '.join(items)}.", ""]
    return lines + own_data


def _module_rst(name: str, index: ApiIndex) -> List[str]:
    # Members are taken from the module itself, not from its __all__: a re-exported name is
    # documented where it is defined (documenting it twice would be a duplicate).
    lines = [
        name,
        "-" * len(name),
        "",
        f".. automodule:: {name}",
        "   :members:",
        "   :ignore-module-all:",
        "",
    ]
    return lines + _adopted_rst(name, index) + _reexports_rst(name, index)


def _api_index(app: Sphinx) -> ApiIndex:
    index = getattr(app, "_tnt_api_index", None)
    if index is None:
        index = ApiIndex(app.config.tnt_api_modules)
        app._tnt_api_index = index  # type: ignore[attr-defined]
    return index


class ApiModulesDirective(SphinxDirective):
    """``.. tnt-api-modules:: GROUP``: document every existing module of GROUP."""

    required_arguments = 1
    has_content = False

    def run(self) -> List[nodes.Node]:
        group = self.arguments[0]
        groups: ModuleGroups = self.config.tnt_api_modules
        if group not in groups:
            raise self.error(
                f"tnt-api-modules: unknown group {group!r}; conf.py's API_MODULES has "
                f"{sorted(groups)}"
            )
        index = _api_index(self.env.app)
        lines: List[str] = []
        for name in groups[group][1]:
            if module_exists(name):
                lines.extend(_module_rst(name, index))
        container = nodes.section()
        container.document = self.state.document
        source = self.get_source_info()[0]
        nested_parse_with_titles(self.state, StringList(lines, source=source), container)
        return container.children


def _drop_type_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: List[str]
) -> None:
    """Data without a doc comment would show its type's docstring (``dict``'s, say); an
    alias or constant says nothing rather than that."""
    if what not in ("data", "attribute") or inspect.isclass(obj):
        return
    type_doc = getattr(type(obj), "__doc__", None)
    if not type_doc or getattr(obj, "__doc__", None) != type_doc:
        return
    expected = inspect.cleandoc(type_doc).splitlines()
    if [line.rstrip() for line in lines[: len(expected)]] == [e.rstrip() for e in expected]:
        del lines[: len(expected)]


def _check_coverage(app: Sphinx, env: Any) -> None:
    groups: ModuleGroups = app.config.tnt_api_modules
    listed = {name for _, names in groups.values() for name in names}
    for name in sorted(public_modules() - listed):
        _log.warning(
            f"public module {name} is missing from the API reference: add it to "
            "API_MODULES in docs/conf.py"
        )


def setup(app: Sphinx) -> Dict[str, Any]:
    """Register the directive, its configuration value and the coverage check."""
    app.add_config_value("tnt_api_modules", {}, "env")
    app.add_directive("tnt-api-modules", ApiModulesDirective)
    app.connect("env-updated", _check_coverage)
    app.connect("autodoc-process-docstring", _drop_type_docstring)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
