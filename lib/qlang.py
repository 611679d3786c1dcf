"""The query filter language: text syntax, list form, evaluation.

A filter is always a list whose first item is an operator (the list form
of Ganeti's query2, which ``/2/query`` bodies and ``OpQuery.filter``
carry)::

    ["&", f1, f2, ...]    all sub-filters hold      ["|", f1, f2, ...]  any
    ["!", f]              the sub-filter does not hold
    ["?", field]          the field's value is true
    ["=", field, value]   equal          ["!=", field, value]  not equal
    ["<", field, value]   ["<=", ...]    [">", ...]    [">=", ...]
    ["=~", field, regex]  the text value matches (``re.search``)
    ["=[]", field, value] the list value contains ``value``

The text syntax (``gnt-node list -F``; gnt-node(8), "query filters")::

    filter    ::= disjunct { "or" disjunct }
    disjunct  ::= negation { "and" negation }
    negation  ::= "not" negation | "(" filter ")" | condition
    condition ::= field ("==" | "!=" | "<" | "<=" | ">" | ">=") value
                | field ("=~" | "!~") regex       regex ::= m/re/ [i]
                | field ("=*" | "!*") string      (shell glob)
                | value ["not"] "in" field
                | field
    value     ::= "string" | 'string' | integer | true | false

Regular expressions may use ``/``, ``#``, ``^`` or ``|`` as delimiter; a
backslash before the delimiter stands for the delimiter itself; the flag
``i`` makes the match case-insensitive (it becomes ``(?i)``).  ``!~``,
``!*`` and ``not in`` are spelled as ``!`` of the positive condition.

:func:`parse` turns text into the list form, :func:`format_filter` turns
the list form back into text (``parse(format_filter(f)) == f`` for every
filter whose ``&``/``|`` have two operands or more), :func:`validate`
checks an untrusted list form and :func:`compile_filter` makes a predicate
over one item.  Data that is unavailable (None) never satisfies a
condition; ``!=`` is exactly ``!`` of ``=``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ganeti import errors

if TYPE_CHECKING:
    # Imported when a text filter is parsed, not with the module: every
    # listing command imports this module, and pyparsing took a third of
    # their start-up (most listings have no text filter).
    import pyparsing as pp

OP_OR: Final = "|"
OP_AND: Final = "&"
OP_NOT: Final = "!"
OP_TRUE: Final = "?"
OP_EQUAL: Final = "="
OP_NOT_EQUAL: Final = "!="
OP_LT: Final = "<"
OP_LE: Final = "<="
OP_GT: Final = ">"
OP_GE: Final = ">="
OP_REGEXP: Final = "=~"
OP_CONTAINS: Final = "=[]"

LOGIC_OPS: Final = frozenset([OP_OR, OP_AND])
COMPARE_OPS: Final = frozenset([OP_EQUAL, OP_NOT_EQUAL, OP_LT, OP_LE, OP_GT,
                                OP_GE])
BINARY_OPS: Final = COMPARE_OPS | frozenset([OP_REGEXP, OP_CONTAINS])
ALL_OPS: Final = LOGIC_OPS | BINARY_OPS | frozenset([OP_NOT, OP_TRUE])

#: Characters whose presence makes a list argument a filter, not a name.
FILTER_DETECTION_CHARS: Final = frozenset("()=/!~'\"\\<> \t")
#: Characters that make a list argument a shell pattern on the name.
GLOB_DETECTION_CHARS: Final = frozenset("*?[")

KEYWORDS: Final = frozenset(["and", "or", "not", "in", "true", "false"])
FIELD_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_REGEX_DELIMITERS: Final = "/#^|"

Filter = list[Any]
#: Gives the value of a field for the item being tested.
Getter = Callable[[str], Any]


def _invalid(message: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(f"Invalid query filter: {message}",
                                errors.ErrorCode.INVAL)


# --- Parsing -------------------------------------------------------------------

def _unescape_regex(body: str, delim: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] == delim:
            out.append(delim)
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _regex_value(tokens: pp.ParseResults) -> str:
    text: str = tokens[0]
    delim = text[1]
    end = text.rindex(delim)
    pattern = _unescape_regex(text[2:end], delim)
    if text[end + 1:] == "i":
        pattern = "(?i)" + pattern
    _check_regex(pattern)
    return pattern


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as err:
        raise _invalid(f"bad regular expression {pattern!r}: {err}") from None


def _build_parser() -> pp.ParserElement:
    import pyparsing as pp  # see the import at the top

    keyword = pp.MatchFirst([pp.Keyword(k) for k in sorted(KEYWORDS)])
    field = (~keyword + pp.Regex(FIELD_RE.pattern)).set_name("field")
    qstring = (pp.QuotedString('"', esc_char="\\", multiline=True,
                               convert_whitespace_escapes=False)
               | pp.QuotedString("'", esc_char="\\", multiline=True,
                                 convert_whitespace_escapes=False)
               ).set_name("string")
    number = pp.Regex(r"-?[0-9]+").set_name("integer")
    number.set_parse_action(lambda t: int(t[0]))
    boolean = pp.Keyword("true") | pp.Keyword("false")
    boolean.set_parse_action(lambda t: t[0] == "true")
    value = (qstring | number | boolean).set_name("value")
    regex_parts = "|".join(
        rf"m{re.escape(d)}(?:\\.|[^{re.escape(d)}\\])*{re.escape(d)}i?"
        for d in _REGEX_DELIMITERS)
    regex = pp.Regex(regex_parts).set_name("regular expression m/.../")
    regex.set_parse_action(_regex_value)

    compare = field + pp.one_of("== != <= >= < >") + value
    compare.set_parse_action(_compare_action)
    rx_match = field + pp.one_of("=~ !~") + regex
    rx_match.set_parse_action(_regex_action)
    glob = field + pp.one_of("=* !*") + qstring
    glob.set_parse_action(_glob_action)
    contains = value + pp.Optional(pp.Keyword("not")) + pp.Keyword("in") + field
    contains.set_parse_action(_contains_action)
    truth = field.copy()
    truth.set_parse_action(lambda t: [[OP_TRUE, t[0]]])
    condition = (contains | compare | rx_match | glob | truth).set_name(
        "condition")

    # pyparsing's infix_notation has no annotations.
    parser: pp.ParserElement = pp.infix_notation(  # type: ignore[no-untyped-call]
        condition, [
        (pp.Keyword("not"), 1, pp.OpAssoc.RIGHT, _not_action),
        (pp.Keyword("and"), 2, pp.OpAssoc.LEFT, _logic_action(OP_AND)),
        (pp.Keyword("or"), 2, pp.OpAssoc.LEFT, _logic_action(OP_OR)),
        ])
    return parser


def _compare_action(t: pp.ParseResults) -> list[Filter]:
    op = OP_EQUAL if t[1] == "==" else t[1]
    return [[op, t[0], t[2]]]


def _regex_action(t: pp.ParseResults) -> list[Filter]:
    cond = [OP_REGEXP, t[0], t[2]]
    return [[OP_NOT, cond]] if t[1] == "!~" else [cond]


def _glob_action(t: pp.ParseResults) -> list[Filter]:
    cond = [OP_REGEXP, t[0], glob_to_regex(t[2])]
    return [[OP_NOT, cond]] if t[1] == "!*" else [cond]


def _contains_action(t: pp.ParseResults) -> list[Filter]:
    cond = [OP_CONTAINS, t[-1], t[0]]
    return [[OP_NOT, cond]] if len(t) == 4 else [cond]


def _operand(tok: Any) -> Any:
    """One filter out of the grouping pyparsing may wrap around it."""
    from pyparsing import ParseResults  # loaded by now

    while (isinstance(tok, (list, ParseResults)) and len(tok) == 1
           and isinstance(tok[0], (list, ParseResults))):
        tok = tok[0]
    return tok


def _not_action(t: pp.ParseResults) -> list[Filter]:
    return [[OP_NOT, _operand(t[0][1])]]


def _logic_action(op: str) -> Callable[[pp.ParseResults], list[Filter]]:
    def action(t: pp.ParseResults) -> list[Filter]:
        return [[op, *(_operand(x) for x in t[0][0::2])]]
    return action


_PARSER: pp.ParserElement | None = None


def parse(text: str) -> Filter:
    """The list form of a filter written in the text syntax.

    Raises :class:`~ganeti.errors.OpPrereqError` saying where the text
    stops making sense.
    """
    from pyparsing import ParseBaseException

    global _PARSER
    if _PARSER is None:
        _PARSER = _build_parser()
        _PARSER.parse_with_tabs()  # values keep their tabs
    if not text.strip():
        raise _invalid("empty filter")
    try:
        result = _PARSER.parse_string(text, parse_all=True)
    except ParseBaseException as err:
        raise _invalid(f"{text!r}: {err.msg} at column {err.column}") from None
    filt: Filter = _plain(_operand(result[0]))
    return filt


def _plain(value: Any) -> Any:
    """ParseResults -> plain lists (parse actions may leave them nested)."""
    from pyparsing import ParseResults  # loaded by now

    if isinstance(value, (list, ParseResults)):
        return [_plain(v) for v in value]
    return value


def glob_to_regex(pattern: str) -> str:
    """A shell pattern as an anchored regular expression."""
    return "^" + fnmatch.translate(pattern).removeprefix("(?s:").removesuffix(
        r")\Z") + "$"


# --- Formatting -------------------------------------------------------------------

def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise _invalid(f"value {value!r:.60} cannot be written in the text syntax")


def _format_field(name: Any) -> str:
    if (not isinstance(name, str) or not FIELD_RE.fullmatch(name)
            or name in KEYWORDS):
        raise _invalid(f"field name {name!r:.60} cannot be written in the text"
                       " syntax")
    return name


def _format_regex(pattern: str) -> str:
    for delim in _REGEX_DELIMITERS:
        if delim not in pattern:
            return f"m{delim}{pattern}{delim}"
    return "m/" + pattern.replace("/", "\\/") + "/"


def format_filter(filt: Filter) -> str:
    """The text syntax of a (valid) list-form filter."""
    validate(filt)
    return _format(filt)


def _format_sub(filt: Filter) -> str:
    text = _format(filt)
    return f"({text})" if filt[0] in LOGIC_OPS or filt[0] == OP_NOT else text


def _format(filt: Filter) -> str:
    op = filt[0]
    if op in LOGIC_OPS:
        word = " and " if op == OP_AND else " or "
        return word.join(_format_sub(sub) for sub in filt[1:])
    if op == OP_NOT:
        return f"not {_format_sub(filt[1])}"
    if op == OP_TRUE:
        return _format_field(filt[1])
    field, value = filt[1], filt[2]
    if op == OP_REGEXP:
        return f"{_format_field(field)} =~ {_format_regex(value)}"
    if op == OP_CONTAINS:
        return f"{_format_value(value)} in {_format_field(field)}"
    shown = "==" if op == OP_EQUAL else op
    return f"{_format_field(field)} {shown} {_format_value(value)}"


# --- Validation -------------------------------------------------------------------

def _is_value(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not (
        isinstance(value, float) and value != value)


def validate(filt: Any) -> None:
    """Check the structure of a list-form filter (e.g. from a RAPI body).

    Raises :class:`~ganeti.errors.OpPrereqError` naming the problem.  Field
    names are checked by the query that knows its fields
    (:func:`referenced_fields`).
    """
    _validate(filt, 0)


_MAX_DEPTH: Final = 64


def _validate(filt: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _invalid("nested too deeply")
    if not isinstance(filt, list) or not filt:
        raise _invalid(f"expected a non-empty list, got {filt!r:.60}")
    op = filt[0]
    if not isinstance(op, str) or op not in ALL_OPS:
        raise _invalid(f"unknown operator {op!r:.20}")
    operands = filt[1:]
    if op in LOGIC_OPS:
        for sub in operands:
            _validate(sub, depth + 1)
        return
    if op == OP_NOT:
        if len(operands) != 1:
            raise _invalid(f"operator {op!r} takes one sub-filter")
        _validate(operands[0], depth + 1)
        return
    if op == OP_TRUE:
        if len(operands) != 1 or not isinstance(operands[0], str):
            raise _invalid(f"operator {op!r} takes one field name")
        return
    if len(operands) != 2 or not isinstance(operands[0], str):
        raise _invalid(f"operator {op!r} takes a field name and a value")
    value = operands[1]
    if op == OP_REGEXP:
        if not isinstance(value, str):
            raise _invalid(f"operator {op!r} needs a regular expression")
        _check_regex(value)
    elif not _is_value(value):
        raise _invalid(f"operator {op!r}: unsupported value {value!r:.60}")


def referenced_fields(filt: Filter) -> list[str]:
    """The field names a (valid) filter uses, in first-use order."""
    found: dict[str, None] = {}

    def walk(sub: Filter) -> None:
        op = sub[0]
        if op in LOGIC_OPS:
            for item in sub[1:]:
                walk(item)
        elif op == OP_NOT:
            walk(sub[1])
        else:
            found.setdefault(sub[1], None)

    walk(filt)
    return list(found)


# --- Evaluation --------------------------------------------------------------------

Predicate = Callable[[Getter], bool]


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        return isinstance(a, (int, float)) and isinstance(b, (int, float))
    return type(a) is type(b)


def values_equal(a: Any, b: Any) -> bool:
    """Equality of filters: booleans, numbers and text never equal each
    other; unavailable data (None) equals nothing."""
    return a is not None and _same_kind(a, b) and bool(a == b)


def _ordered(op: str, a: Any, b: Any) -> bool:
    if a is None or not _same_kind(a, b) or isinstance(a, (bool, list, dict)):
        return False
    if op == OP_LT:
        return bool(a < b)
    if op == OP_LE:
        return bool(a <= b)
    if op == OP_GT:
        return bool(a > b)
    return bool(a >= b)


def compile_filter(filt: Filter | None,
                   kinds: Mapping[str, str] | None = None) -> Predicate:
    """A predicate over one item (given as a field getter).

    ``kinds`` (field -> kind, see :mod:`ganeti.query`) lets the compiler
    refuse conditions that can never make sense (``mfree > "x"``,
    ``"a" in name``) with a clear error; unknown fields raise
    :class:`~ganeti.errors.UnknownFieldError`.  None accepts everything.
    """
    if filt is None:
        return lambda get: True
    validate(filt)
    if kinds is not None:
        unknown = [f for f in referenced_fields(filt) if f not in kinds]
        if unknown:
            raise errors.UnknownFieldError(
                f"Unknown field(s) in filter: {', '.join(unknown)}")
        _check_kinds(filt, kinds)
    return _compile(filt)


_NUMERIC_KINDS: Final = frozenset(["number", "unit", "timestamp"])


def _check_kinds(filt: Filter, kinds: Mapping[str, str]) -> None:
    op = filt[0]
    if op in LOGIC_OPS:
        for sub in filt[1:]:
            _check_kinds(sub, kinds)
        return
    if op == OP_NOT:
        _check_kinds(filt[1], kinds)
        return
    if op == OP_TRUE:
        return
    field, value = filt[1], filt[2]
    kind = kinds[field]
    if op == OP_CONTAINS and kind != "list":
        raise _invalid(f"'in' needs a list field, {field!r} is {kind}")
    if op in COMPARE_OPS and kind in _NUMERIC_KINDS and not (
            isinstance(value, (int, float)) and not isinstance(value, bool)):
        raise _invalid(f"field {field!r} is numeric, cannot compare it with"
                       f" {value!r:.60}")
    if op in COMPARE_OPS and kind == "bool" and not isinstance(value, bool):
        raise _invalid(f"field {field!r} is a boolean, compare it with true"
                       " or false")


def _compile(filt: Filter) -> Predicate:
    op = filt[0]
    if op in LOGIC_OPS:
        subs = [_compile(sub) for sub in filt[1:]]
        if op == OP_AND:
            return lambda get: all(p(get) for p in subs)
        return lambda get: any(p(get) for p in subs)
    if op == OP_NOT:
        inner = _compile(filt[1])
        return lambda get: not inner(get)
    field = filt[1]
    if op == OP_TRUE:
        return lambda get: bool(get(field))
    value = filt[2]
    if op == OP_EQUAL:
        return lambda get: values_equal(get(field), value)
    if op == OP_NOT_EQUAL:
        return lambda get: not values_equal(get(field), value)
    if op == OP_REGEXP:
        rx = re.compile(value)
        return lambda get: _search(rx, get(field))
    if op == OP_CONTAINS:
        return lambda get: _contains(get(field), value)
    return lambda get: _ordered(op, get(field), value)


def _search(rx: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and rx.search(value) is not None


def _contains(container: Any, value: Any) -> bool:
    return isinstance(container, list) and any(
        values_equal(item, value) for item in container)


# --- Command line helpers ----------------------------------------------------------

def make_simple_filter(namefield: str, values: list[str]) -> Filter | None:
    """``["|", ["=", namefield, v1], ...]``; None for no values."""
    if not values:
        return None
    return [OP_OR, *([OP_EQUAL, namefield, v] for v in values)]


def make_filter(args: list[str], force_filter: bool,
                namefield: str = "name") -> Filter | None:
    """The filter of a ``list`` command's arguments, as Ganeti's CLI does:
    with ``-F`` the arguments are one filter; otherwise one argument that
    looks like a filter is parsed as one, shell patterns match the name,
    and plain words are names."""
    if force_filter:
        if not args:
            raise errors.UsageError("A filter expression is required with -F")
        return parse(" ".join(args))
    if len(args) == 1 and FILTER_DETECTION_CHARS.intersection(args[0]):
        return parse(args[0])
    if not args:
        return None
    parts: list[Filter] = []
    for arg in args:
        if GLOB_DETECTION_CHARS.intersection(arg):
            parts.append([OP_REGEXP, namefield, glob_to_regex(arg)])
        else:
            parts.append([OP_EQUAL, namefield, arg])
    return [OP_OR, *parts]
