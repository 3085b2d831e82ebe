"""Escaping of untrusted text, one function per target.

File names, layer names, metadata and anything else read from a file are untrusted (see
``docs/threat-model.md``). Before such a string reaches generated code or a terminal it passes
through exactly one of these functions; each returns text that cannot end the construct it is
placed in (a comment line, a string literal, an identifier, a terminal line) and is plain ASCII
where the target needs it.

=====================  =====================================================================
function               where the result goes
=====================  =====================================================================
``verilog_comment``    the body of a ``//`` line comment in Verilog (no newline, ASCII)
``verilog_string``     the inside of a Verilog ``"..."`` string literal
``vcd_text``           the body of a VCD ``$comment``/``$version`` section (no ``$end``)
``terminal``           one line of terminal output (no control or escape sequences)
``html_text``          HTML element text or attribute values (``html.escape``)
``csv_cell``           one cell of a CSV file opened in a spreadsheet (no formula)
=====================  =====================================================================

Example:
    >>> verilog_comment("m\\nmodule evil; endmodule")
    'm\\\\nmodule evil; endmodule'
    >>> terminal("L0\\x1b[2J")
    'L0\\\\x1b[2J'
"""

from __future__ import annotations

import html


def _ascii_escape(text: str) -> str:
    """Printable ASCII passes; everything else becomes a backslash escape.

    Newlines, controls and non-ASCII characters become ``\\n``, ``\\x1b``, ``\\u2028``, ...
    """
    out = []
    for ch in str(text):
        o = ord(ch)
        if 0x20 <= o < 0x7F:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x100:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "".join(out)


def verilog_comment(text: str) -> str:
    """``text`` made safe for the body of one Verilog ``//`` comment line.

    Newlines, carriage returns, every other control character and every non-ASCII character are
    written as backslash escapes, so the comment cannot end early and the file stays ASCII (some
    tools treat U+2028 or a bare CR as a line break). ``/*`` and ``*/`` are harmless inside a
    line comment, and a backslash at the end of a ``//`` line does not continue it in Verilog.

    Args:
        text: any text (converted with ``str``).

    Returns:
        One line of printable ASCII.

    Example:
        >>> verilog_comment("a\\rb\\u2028c")
        'a\\\\rb\\\\u2028c'
    """
    return _ascii_escape(text)


def verilog_string(text: str) -> str:
    """``text`` made safe for the inside of a Verilog string literal ``"..."``.

    IEEE 1364 escapes: ``\\\\``, ``\\"``, ``\\n``, ``\\t`` and octal ``\\ddd`` for every other byte
    outside printable ASCII; non-ASCII characters are written as their UTF-8 bytes.

    Args:
        text: any text (converted with ``str``).

    Returns:
        Printable ASCII that cannot close the literal.

    Example:
        >>> verilog_string('x"); $system("id')
        'x\\\\"); $system(\\\\"id'
    """
    out = []
    for b in str(text).encode("utf-8", "backslashreplace"):
        ch = chr(b)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return "".join(out)


def vcd_text(text: str) -> str:
    """``text`` made safe for the body of a VCD ``$comment`` (one line, ASCII, no ``$end``).

    VCD sections end at the keyword ``$end``; every ``$`` becomes ``\\x24`` so no keyword can
    appear, and controls and non-ASCII are escaped as in :func:`verilog_comment`.

    Args:
        text: any text (converted with ``str``).

    Returns:
        One line of printable ASCII without ``$``.

    Example:
        >>> vcd_text("x $end $var wire 1 ! y $end")
        'x \\\\x24end \\\\x24var wire 1 ! y \\\\x24end'
    """
    return _ascii_escape(text).replace("$", "\\x24")


def terminal(text: str) -> str:
    """``text`` made safe to print on one terminal line.

    Control characters (ESC, CR, newline, backspace, C1 controls, ...) and Unicode
    format/line-separator characters are shown as backslash escapes; other printable Unicode
    (accents, CJK) is kept.

    Args:
        text: any text (converted with ``str``).

    Returns:
        Text without control or escape sequences.

    Example:
        >>> terminal("caf\\u00e9\\n")
        'café\\\\n'
    """
    import unicodedata

    out = []
    for ch in str(text):
        o = ord(ch)
        cat = unicodedata.category(ch)
        if 0x20 <= o < 0x7F or (o >= 0xA0 and cat[0] != "C" and cat not in ("Zl", "Zp")):
            out.append(ch)
        else:
            out.append(_ascii_escape(ch))
    return "".join(out)


def html_text(text: str) -> str:
    """``text`` escaped for HTML text and quoted attribute values (``&<>"'``).

    Args:
        text: any text (converted with ``str``).

    Returns:
        Text in which ``&``, ``<``, ``>``, ``"`` and ``'`` are character references.

    Example:
        >>> html_text('<script>"x"</script>')
        '&lt;script&gt;&quot;x&quot;&lt;/script&gt;'
    """
    return html.escape(str(text), quote=True)


#: first characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a
#: formula or a command: OWASP's list for CSV injection
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` made safe for one cell of a CSV file that may be opened in a spreadsheet.

    A string that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
    read as a formula (CSV injection, e.g. ``=HYPERLINK(...)`` or a DDE command); it gets a
    leading single quote ``'``, as OWASP advises, so the spreadsheet shows it as text. Control
    and format characters in a string (ESC, newlines, U+202E) are shown as backslash escapes,
    as :func:`terminal` does, so the file is also safe to print. Every value that is not a
    string (numbers, booleans, ``None``) is returned unchanged, so numbers stay numbers.
    Quoting of commas and quotes is left to the :mod:`csv` writer.

    Args:
        value: one cell's value.

    Returns:
        ``value``, or the string escaped and with ``'`` in front where it starts a formula.

    Example:
        >>> csv_cell("=1+2"), csv_cell("@SUM(A1)"), csv_cell("L0"), csv_cell(-1.5)
        ("'=1+2", "'@SUM(A1)", 'L0', -1.5)
        >>> csv_cell("L0\\x1b[31m")
        'L0\\\\x1b[31m'

    """
    if not isinstance(value, str):
        return value
    value = terminal(value)  # ESC or U+202E in a layer name reached `cat nodes.csv` raw
    return "'" + value if value.startswith(CSV_FORMULA_START) else value


__all__ = ["csv_cell", "html_text", "terminal", "vcd_text", "verilog_comment", "verilog_string"]
