"""Sphinx extension: Markdown links from docs pages to Markdown files of the repository.

A page under ``docs/`` may link to ``../README.md`` or ``../BENCHMARKS.md`` so that the link works
when the file is read on a code host. Those files are not pages of the site; ``conf.py`` maps them
to the pages that hold (or include) their content::

    repo_docs = {"README.md": "index", "BENCHMARKS.md": "guide/benchmark-results"}

Links to any other Markdown file outside ``docs/`` still warn (and fail the ``-W`` build).
"""

from __future__ import annotations

from pathlib import Path

from sphinx.transforms.post_transforms import SphinxPostTransform


class RepoDocLinks(SphinxPostTransform):
    # before MyST's resolver (priority 9), which would warn about an unknown document
    default_priority = 8

    def run(self, **kwargs) -> None:
        from sphinx import addnodes

        mapping = {Path(k).with_suffix("").as_posix(): v
                   for k, v in self.config.repo_docs.items()}
        root = Path(self.env.srcdir).parent
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") != "doc":
                continue
            target = str(node["reftarget"])
            if target in self.env.all_docs:
                continue
            try:
                rel = Path(target).resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                continue
            if rel in mapping:
                node["reftarget"] = mapping[rel]


def setup(app):
    app.add_config_value("repo_docs", {}, "env", [dict])
    app.add_post_transform(RepoDocLinks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
