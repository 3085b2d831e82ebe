"""Sphinx extension: the CLI reference, generated from the argparse parsers.

The directive ``spikelut-cli`` (in Markdown: a ```` ```{spikelut-cli} ```` fence) renders
``spikelut.cli.build_parser()``: the top-level usage, then one section per subcommand (nested
subcommands such as ``spikelut plot rates`` get their own sections) with its description, usage
and a table of its arguments and options (metavar, help, default, choices).

Everything is built as docutils nodes from plain text, so nothing a command author writes in a
help string is interpreted as markup: a help text can never break the warnings-as-errors build.
"""

from __future__ import annotations

import argparse
import importlib
import textwrap
from typing import Iterator

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

_SUPPRESS = argparse.SUPPRESS


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of every subcommand of ``parser``, in declaration order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: (a.help or "") for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:          # aliases point at the same parser
                    continue
                seen.add(id(sub))
                yield name, helps.get(name, ""), sub


def _invocation(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    if not action.option_strings:
        return formatter._metavar_formatter(action, action.dest)(1)[0]
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = formatter._format_args(action, action.dest.upper())
    return ", ".join(f"{o} {metavar}" for o in action.option_strings)


def _help(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    text = formatter._expand_help(action) if action.help else ""
    extras = []
    if (action.choices is not None and action.metavar is not None
            and not isinstance(action, argparse._SubParsersAction)):
        # without a metavar the invocation already lists the choices as {a,b,c}
        extras.append("choices: " + ", ".join(str(c) for c in action.choices))
    default = action.default
    if (action.option_strings and action.nargs != 0 and default is not None
            and default is not _SUPPRESS and "%(default)" not in (action.help or "")
            and "default" not in text.lower()):
        extras.append(f"default: {default}")
    return " ".join([text.strip()] + [f"({e})" for e in extras]).strip()


def _table(rows: list[tuple[str, str]]) -> nodes.table:
    table = nodes.table(classes=["cli-options"])
    group = nodes.tgroup(cols=2)
    table += group
    group += nodes.colspec(colwidth=35)
    group += nodes.colspec(colwidth=65)
    head = nodes.thead()
    group += head
    hrow = nodes.row()
    for title in ("argument", "meaning"):
        hrow += nodes.entry("", nodes.paragraph(text=title))
    head += hrow
    body = nodes.tbody()
    group += body
    for inv, text in rows:
        row = nodes.row()
        row += nodes.entry("", nodes.paragraph("", "", nodes.literal(text=inv)))
        row += nodes.entry("", nodes.paragraph(text=text))
        body += row
    return table


def _paragraphs(text: str) -> list[nodes.Node]:
    """Plain text as paragraphs (blank-line separated) and literal blocks (indented lines)."""
    out: list[nodes.Node] = []
    para: list[str] = []
    code: list[str] = []

    def flush() -> None:
        if para:
            out.append(nodes.paragraph(text=" ".join(line.strip() for line in para)))
            para.clear()
        if code:
            body = textwrap.dedent("\n".join(code)).strip("\n")
            out.append(nodes.literal_block(body, body))
            code.clear()

    for line in text.strip("\n").splitlines():
        if not line.strip():
            if para:
                flush()
            elif code:
                code.append("")
        elif line.startswith((" ", "\t")):
            if para:
                flush()
            code.append(line)
        else:
            if code:
                flush()
            para.append(line)
    flush()
    return out


class CliDirective(SphinxDirective):
    """Render a parser and all its subcommands."""

    has_content = False
    required_arguments = 0
    option_spec = {
        "module": directives.unchanged,     # default: spikelut.cli
        "func": directives.unchanged,       # default: build_parser
    }

    def run(self) -> list[nodes.Node]:
        module = importlib.import_module(self.options.get("module", "spikelut.cli"))
        parser = getattr(module, self.options.get("func", "build_parser"))()
        self.env.note_dependency(module.__file__)
        out: list[nodes.Node] = [nodes.literal_block(text=parser.format_usage().strip())]
        rows = self._rows(parser)
        if rows:
            out.append(_table(rows))
        for name, short, sub in _subparsers(parser):
            out.append(self._section(f"{parser.prog} {name}", short, sub))
        return out

    def _rows(self, parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
        formatter = parser._get_formatter()
        rows = []
        for action in parser._actions:
            if action.help is _SUPPRESS or isinstance(
                    action, (argparse._SubParsersAction, argparse._HelpAction)):
                continue  # every command has --help; the page says so once
            rows.append((_invocation(action, formatter), _help(action, formatter)))
        return rows

    def _section(self, title: str, short: str, parser: argparse.ArgumentParser) -> nodes.section:
        section = nodes.section()
        section += nodes.title(text=title)
        section["names"].append(nodes.fully_normalize_name(title))
        self.state.document.note_implicit_target(section, section)
        if short:
            section += nodes.paragraph("", "", nodes.emphasis(text=short))
        section += nodes.literal_block(text=parser.format_usage().strip())
        if parser.description and parser.description.strip() != short.strip():
            section.extend(_paragraphs(parser.description))
        rows = self._rows(parser)
        if rows:
            section += _table(rows)
        for name, sub_short, sub in _subparsers(parser):
            section += self._section(f"{parser.prog} {name}", sub_short, sub)
        return section


def setup(app):
    app.add_directive("spikelut-cli", CliDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
