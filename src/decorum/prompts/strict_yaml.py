"""Strict YAML for files people review: what a reader sees is what loads.

``load_strict_yaml`` is ``yaml.safe_load`` that also refuses, naming the line, the column and the key:

* a **duplicate key** at any level (plain YAML keeps the last one, so a reviewer reading the first sees
  something other than what runs); keys that load as equal values (``1`` and ``true``) are duplicates too;
* **control characters** in any scalar (value or key), written raw or as an escape (``"\\0"``, ``"\\x07"``,
  ``"\\N"``): C0 controls other than tab, newline and carriage return, DEL, and C1 controls (U+0080-U+009F);
  also the **bidirectional embeddings, overrides and isolates** (U+202A-U+202E, U+2066-U+2069), which make
  text display in an order other than the one it has ("Trojan Source"). The marks LRM/RLM/ALM stay allowed;
* **aliases** (``*name``: a small file can expand into a huge one), **merge keys** (``<<``: keys that come
  from elsewhere), **complex keys** (``? [a, b]``), **binary** values (``!!binary``: bytes that become
  text later, control characters included) and nesting deeper than ``MAX_DEPTH``.

Errors are ``StrictYamlError`` (a ``ValueError``) with ``line`` and ``column`` (1-based, as editors count
them), ``key`` (the dotted path of the value, ``test_cases.0.question``; None at the top or outside any
value) and ``problem``; ``str()`` is ``"line 4, column 1: system: duplicate key ..."``. Malformed YAML
still raises ``yaml.YAMLError`` (with its own ``problem_mark``). Used by template files
(``decorum.prompts.yaml_format``) and meant for every admin-edited YAML (the knowledge base's too).

Example::

    data = load_strict_yaml(text)
    try:
        load_strict_yaml('system: "a\\0b"')
    except StrictYamlError as exc:
        exc.line, exc.key   # 1, "system"
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.scanner import Scanner

__all__ = ["StrictYamlError", "find_refused_char", "load_strict_yaml", "refused_char_name"]

# C0 controls but tab, LF, CR; DEL; C1 controls; bidi embeddings/overrides (LRE RLE PDF LRO RLO) and isolates
# (LRI RLI FSI PDI).
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_C0 = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC "
       "FS GS RS US").split()
_C1 = {0x84: "IND", 0x85: "NEL", 0x88: "HTS", 0x8D: "RI", 0x9B: "CSI"}
_ALLOWED_TEXT = "only tab, newline and carriage return may appear in text"
MAX_DEPTH = 64  # lists and mappings inside each other; a template needs 4
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BINARY_TAG = "tag:yaml.org,2002:binary"


class StrictYamlError(ValueError):
    """YAML that ``load_strict_yaml`` refuses: ``line``/``column`` (1-based), ``key`` (dotted path or None)."""

    def __init__(self, problem: str, *, line: int | None = None, column: int | None = None,
                 key: str | None = None) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        self.key = key
        super().__init__(f"{self.where}: {problem}" if self.where else problem)

    @property
    def where(self) -> str:
        """``line 4, column 1: system`` (what is known of it)."""
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        if self.key:
            parts.append(self.key)
        return ": ".join(parts)


def refused_char_name(ch: str) -> str:
    """``U+0000 (NUL)``, ``U+202E (RIGHT-TO-LEFT OVERRIDE)``: how an error names a refused character."""
    cp = ord(ch)
    if cp < 0x20:
        name = _C0[cp]
    elif cp == 0x7F:
        name = "DEL"
    elif cp <= 0x9F:
        name = _C1.get(cp, "C1 control")
    else:
        name = unicodedata.name(ch, "format character")
    return f"U+{cp:04X} ({name})"


def _kind(ch: str) -> str:
    return "bidirectional formatting character" if ord(ch) >= 0x2000 else "control character"


def _why(ch: str) -> str:
    if ord(ch) >= 0x2000:
        return "it makes text display in another order than the one it has"
    return _ALLOWED_TEXT


def find_refused_char(text: str) -> int | None:
    """The index of the first character ``load_strict_yaml`` refuses in ``text``, or None."""
    m = _REFUSED.search(text)
    return m.start() if m else None


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``index``, counting line breaks as YAML does (LF, CR, CRLF, NEL, LS, PS)."""
    line, start = 1, 0
    i = 0
    while i < index:
        ch = text[i]
        if ch in "\n\x85\u2028\u2029" or (ch == "\r" and text[i + 1:i + 2] != "\n"):
            line, start = line + 1, i + 1
        i += 1
    return line, index - start + 1


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases where they are written, and nesting past ``MAX_DEPTH`` (composing is
    recursive: a few hundred ``[`` would end in a ``RecursionError``)."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise StrictYamlError(f"YAML aliases (*{event.anchor}) are not allowed: they can expand a small file "
                                  "into a huge one", line=event.start_mark.line + 1,
                                  column=event.start_mark.column + 1)
        if self._depth >= MAX_DEPTH:
            raise StrictYamlError(f"nested deeper than {MAX_DEPTH} levels", line=event.start_mark.line + 1,
                                  column=event.start_mark.column + 1)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _path(path: tuple[str, ...]) -> str | None:
    return ".".join(path) or None


def _escape_at(text: str, node: ScalarNode, bad: str) -> tuple[int, str] | None:
    """Where in a double-quoted scalar the escape giving ``bad`` is written: (index in text, the escape)."""
    start, end = node.start_mark.index, node.end_mark.index
    i = start + 1
    while i < end:
        if text[i] != "\\":
            i += 1
            continue
        code = text[i + 1:i + 2]
        if code in Scanner.ESCAPE_CODES:
            size = Scanner.ESCAPE_CODES[code]
            digits = text[i + 2:i + 2 + size]
            try:
                ch = chr(int(digits, 16))
            except ValueError:
                return None
            if ch == bad:
                return i, text[i:i + 2 + size]
            i += 2 + size
            continue
        if Scanner.ESCAPE_REPLACEMENTS.get(code) == bad:
            return i, text[i:i + 2]
        i += 2
    return None


MAX_NUMBER_CHARS = 100
"""A longer integer or float is refused before it is built (Python refuses integers past 4,300 digits with a
ValueError that names no line)."""
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


class _Checker:
    """Walks the composed node tree: duplicate, merge and complex keys, binary values, refused characters."""

    def __init__(self, loader: _Loader, text: str) -> None:
        self.loader = loader
        self.text = text

    def node(self, node: Node, path: tuple[str, ...], *, is_key: bool = False) -> None:
        if isinstance(node, ScalarNode):
            self.scalar(node, path, is_key=is_key)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.node(item, (*path, str(i)))
        elif isinstance(node, MappingNode):
            self.mapping(node, path)

    def scalar(self, node: ScalarNode, path: tuple[str, ...], *, is_key: bool) -> None:
        mark = node.start_mark
        if node.tag == _BINARY_TAG:
            raise StrictYamlError("binary values (!!binary) are not allowed: write text", line=mark.line + 1,
                                  column=mark.column + 1, key=_path(path))
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            raise StrictYamlError(f"a number written with {len(node.value):,} characters (at most "
                                  f"{MAX_NUMBER_CHARS}): quote it if it is text", line=mark.line + 1,
                                  column=mark.column + 1, key=_path(path))
        m = _REFUSED.search(node.value)
        if m is None:
            return
        bad = m.group()
        line, column = mark.line + 1, mark.column + 1
        how = "in the text"
        if node.style == '"':
            found = _escape_at(self.text, node, bad)
            if found is not None:
                line, column = _line_col(self.text, found[0])
                how = f"written as the escape {found[1]}"
        raise StrictYamlError(f"{_kind(bad)} {refused_char_name(bad)} {how}{' in a key' if is_key else ''}: "
                              f"{_why(bad)}", line=line, column=column, key=_path(path))

    def mapping(self, node: MappingNode, path: tuple[str, ...]) -> None:
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            mark = key_node.start_mark
            if key_node.tag == _MERGE_TAG:
                raise StrictYamlError("YAML merge keys (<<) are not allowed: write each key where it applies",
                                      line=mark.line + 1, column=mark.column + 1, key=_path(path))
            if not isinstance(key_node, ScalarNode):
                raise StrictYamlError("complex keys (a list or mapping as a key) are not allowed",
                                      line=mark.line + 1, column=mark.column + 1, key=_path(path))
            self.scalar(key_node, path, is_key=True)
            key = self.loader.construct_object(key_node)  # scalars load as hashable values
            name = str(key_node.value)
            first = seen.get(key)
            if first is not None:
                raise StrictYamlError(
                    f"duplicate key (first at line {first}): each key may appear once, or a reader of the first "
                    "would see another value than the one that loads",
                    line=mark.line + 1, column=mark.column + 1, key=_path((*path, name)))
            seen[key] = mark.line + 1
            self.node(value_node, (*path, name))


def _raw_char_error(text: str, index: int) -> StrictYamlError:
    """The error for a refused character written raw at ``index``, with the key of the value it sits in when
    the YAML around it parses (found with the character replaced, which keeps every index)."""
    bad = text[index]
    line, column = _line_col(text, index)
    key, in_key = None, False
    try:
        key, in_key = _key_at(_REFUSED.sub("\ufffd", text), index)
    except (yaml.YAMLError, StrictYamlError, RecursionError):
        pass
    what = "NUL bytes (U+0000)" if bad == "\x00" else f"{_kind(bad)} {refused_char_name(bad)}"  # a binary file
    return StrictYamlError(f"{what} written raw{' in a key' if in_key else ''}: {_why(bad)}", line=line,
                           column=column, key=key)


def _key_at(text: str, index: int) -> tuple[str | None, bool]:
    """The dotted path of the scalar that holds ``index`` and whether it is a key; (None, False): none does."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    found: list[tuple[str | None, bool]] = [(None, False)]

    def walk(node: Node, path: tuple[str, ...], is_key: bool = False) -> None:
        if isinstance(node, ScalarNode):
            if node.start_mark.index <= index < max(node.end_mark.index, node.start_mark.index + 1):
                found[0] = (_path(path), is_key)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, str(i)))
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                walk(k, path, True)
                walk(v, (*path, str(k.value) if isinstance(k, ScalarNode) else "?"))

    if root is not None:
        walk(root, ())
    return found[0]


def load_strict_yaml(text: str) -> Any:
    """``yaml.safe_load`` of one document, refusing what a reviewer could misread (see the module docstring).

    Raises ``StrictYamlError`` (naming line, column and key) or ``yaml.YAMLError`` (malformed YAML).
    """
    index = find_refused_char(text)
    if index is not None:
        raise _raw_char_error(text, index)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _Checker(loader, text).node(root, ())
        return loader.construct_document(root)
    finally:
        loader.dispose()
