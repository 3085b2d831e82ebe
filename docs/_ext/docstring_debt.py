"""Sphinx extension: keep known docstring problems of listed modules out of the warning count.

``conf.py`` sets ``docstring_debt = ["spikelut.some.module", ...]``: docutils warnings raised
while rendering the docstrings of those modules (and of everything defined in them) are counted
and summarised in one info line instead of failing the ``-W`` build. Every other module is
strict. Set ``SPIKELUT_DOCS_STRICT=1`` to see them all as warnings. The list is meant to shrink
to empty: remove a module once its docstrings render cleanly.
"""

from __future__ import annotations

import logging
import os
import re

from sphinx.util import logging as sphinx_logging

logger = sphinx_logging.getLogger(__name__)


class _DebtFilter(logging.Filter):
    def __init__(self, modules: list[str]) -> None:
        super().__init__()
        names = "|".join(re.escape(m) for m in modules)
        self.pattern = re.compile(rf"docstring of ({names})(\.|:|$)") if modules else None
        self.hidden: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.pattern is None or record.levelno < logging.WARNING:
            return True
        location = str(getattr(record, "location", "") or "")
        if self.pattern.search(location):
            self.hidden.append(f"{location}: {record.getMessage()}")
            return False
        return True


def _install(app) -> None:
    modules = list(app.config.docstring_debt)
    if os.environ.get("SPIKELUT_DOCS_STRICT") == "1" or not modules:
        return
    flt = _DebtFilter(modules)
    app._docstring_debt_filter = flt
    for handler in logging.getLogger(sphinx_logging.NAMESPACE).handlers:
        if isinstance(handler, sphinx_logging.WarningStreamHandler):
            # first, so that neither -W's raising filter nor the warning counter sees them
            handler.filters.insert(0, flt)


def _summary(app, exception) -> None:
    flt = getattr(app, "_docstring_debt_filter", None)
    if flt is not None and flt.hidden:
        logger.info("docstring debt: %d docstring problem(s) in %s not counted as warnings "
                    "(SPIKELUT_DOCS_STRICT=1 shows them)", len(flt.hidden),
                    ", ".join(app.config.docstring_debt))


def setup(app):
    app.add_config_value("docstring_debt", [], "env", [list])
    app.connect("builder-inited", _install)
    app.connect("build-finished", _summary)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
