"""The sandbox every template a user can write or override renders in.

Message templates (saved in the back office or with ``duly templates save``) and document template
overrides (``DULY_DOCUMENT_TEMPLATE_DIRS``) are text, never code. They render in
:class:`DulySandbox`, a Jinja2 ``ImmutableSandboxedEnvironment`` that offers only what is listed
here, and SECURITY.md documents:

Filters (:data:`FILTERS`)
    ``abs capitalize count default d dictsort e escape first float groupby int items join last
    length list lower map max min reject rejectattr replace reverse round select selectattr sort
    string striptags sum title tojson trim truncate unique upper urlencode wordcount``
    (``replace`` refuses to build a text longer than :data:`MAX_TEXT`). Not offered: ``attr``,
    ``format``, ``safe``, ``pprint`` and the padding or repeating filters (``center``, ``indent``,
    ``batch``, ``slice``, ``wordwrap``, ``xmlattr``, ``urlize``, ``filesizeformat``).
Tests (:data:`TESTS`)
    ``boolean defined divisibleby eq equalto escaped even false float ge gt in integer iterable le
    lower lt mapping ne none number odd sameas sequence string true undefined upper`` (and the
    operators ``== != < <= > >=``).
Globals
    ``range`` only, at most :data:`MAX_RANGE` numbers. Everything else a template sees is its
    context: plain values (text, numbers, lists, mappings) and the functions Duly passes to it.

What is refused
    - at save time and again whenever a template is loaded (:func:`check_source`): a name or key
      that starts with an underscore, a text constant holding ``__``, the name ``self``, a filter
      or test not listed above, and (at save time, knowing the template's kind) any variable that
      is neither in the context of its kind nor one of the globals;
    - while rendering (the Jinja2 sandbox): any attribute starting with ``_`` and Python
      internals, changing a list or mapping, calling anything Django marks as altering data,
      ``str.format`` and ``%`` on text, repeating a text or list past :data:`MAX_TEXT` items, and
      powers with an exponent above :data:`MAX_EXPONENT`.

Errors
    :func:`render_error` turns whatever a render raised into a
    :class:`~duly.domain.errors.TemplateError` naming the template and the line. Its text never
    carries a value the template did not contain: an exception's own text is shown only when it
    names a variable or field spelt in the template's source ("'invoice' is undefined").

What it does not stop: a template can still make a large or slow render within these limits
(text that repeats itself through many ``{% set %}`` lines). Only the staff of an organization
write its templates, and a render runs with no more rights than the template's own context.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.defaults import DEFAULT_FILTERS, DEFAULT_TESTS
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from duly.domain.errors import TemplateError, TemplateRefused

#: Longest text or list a template may build by repetition, replacement or concatenation.
MAX_TEXT = 1_000_000
#: Largest exponent of ``**``.
MAX_EXPONENT = 100
#: Most numbers ``range`` gives.
MAX_RANGE = 10_000

_BUILTIN_FILTERS = (
    "abs", "capitalize", "count", "default", "d", "dictsort", "e", "escape", "first", "float", "groupby", "int",
    "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse",
    "round", "select", "selectattr", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
)
_BUILTIN_TESTS = (
    "boolean", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "float", "ge", "gt", "in",
    "integer", "iterable", "le", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence",
    "string", "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">=", "greaterthan", "lessthan",
)
#: Text methods that pad or repeat to a length the template chooses.
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


class TemplateLimit(SecurityError):
    """A limit of Duly's sandbox; its text names the limit and never a value, so errors show it."""


@jinja2.pass_eval_context
def _bounded_replace(eval_ctx: jinja2.nodes.EvalContext, value: Any, old: Any, new: Any,
                     count: int | None = None) -> str:
    text, before, after = str(value), str(old), str(new)
    if before and len(after) > len(before):
        hits = text.count(before) if count is None else min(max(int(count), 0), text.count(before))
        if len(text) + hits * (len(after) - len(before)) > MAX_TEXT:
            raise TemplateLimit("replace would build too long a text")
    return DEFAULT_FILTERS["replace"](eval_ctx, value, old, new, count)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(f"range gives at most {MAX_RANGE} numbers")
    return numbers


FILTERS: Mapping[str, Callable] = {
    **{name: DEFAULT_FILTERS[name] for name in _BUILTIN_FILTERS},
    "replace": _bounded_replace,
}
TESTS: Mapping[str, Callable] = {name: DEFAULT_TESTS[name] for name in _BUILTIN_TESTS}

_SEQUENCES = (str, list, tuple, bytes)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, _SEQUENCES) else 0


class DulySandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with Duly's filters, tests and globals only (see the module doc)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, filters: Mapping[str, Callable] | None = None, **options: Any) -> None:
        options.setdefault("undefined", jinja2.StrictUndefined)
        super().__init__(**options)
        self.filters = {**FILTERS, **(filters or {})}
        self.tests = dict(TESTS)
        self.globals = {"range": _bounded_range}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _PADDING_METHODS:
            return False
        if isinstance(value, (type, types.ModuleType, types.FrameType, types.CodeType)):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if isinstance(value, (types.MethodType, types.BuiltinMethodType)) and getattr(
                value, "__name__", "") in ("format", "format_map") and isinstance(value.__self__, str):
            def refused(*args: Any, **kwargs: Any) -> str:
                raise TemplateLimit("str.format is not available in templates: join text with ~")

            return refused
        return None

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise TemplateLimit("% formatting is not available in templates: join text with ~")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SEQUENCES) and isinstance(times, int) and len(seq) * times > MAX_TEXT:
                    raise TemplateLimit("repeating builds too long a text")
        if operator == "+" and _size(left) + _size(right) > MAX_TEXT:
            raise TemplateLimit("joining builds too long a text")
        if operator == "**" and isinstance(right, (int, float, Decimal)) and abs(right) > MAX_EXPONENT:
            raise TemplateLimit(f"exponents above {MAX_EXPONENT} are not available")
        return super().call_binop(context, operator, left, right)


# --- static checks -------------------------------------------------------------------------------
def _first_refusal(tree: nodes.Template, env: jinja2.Environment) -> tuple[int, str] | None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Const, nodes.Name, nodes.Filter, nodes.Test)):
        line = node.lineno
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return line, f"names starting with an underscore are not available ({node.attr!r})"
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(
                node.arg.value, str) and node.arg.value.startswith("_"):
            return line, f"keys starting with an underscore are not available ({node.arg.value!r})"
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and "__" in node.value:
            return line, "text constants may not contain a double underscore"
        if isinstance(node, nodes.Name) and node.name == "self":
            return line, f"{node.name!r} is not available in templates"
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            return line, f"there is no filter {node.name!r} (see SECURITY.md for the filters templates may use)"
        if isinstance(node, nodes.Test) and node.name not in env.tests:
            return line, f"there is no test {node.name!r} (see SECURITY.md for the tests templates may use)"
    return None


def check_source(env: jinja2.Environment, source: str, name: str, *,
                 context_keys: Iterable[str] | None = None) -> nodes.Template:
    """Parse ``source`` and refuse what templates may not do; returns the parsed template.

    ``context_keys``: the variables its context has (save time); any other free variable that is
    not a global is refused, naming it and its line.
    """
    try:
        tree = env.parse(source, name=name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"Template {name}, line {exc.lineno}: {exc.message}", template=name,
                            line=exc.lineno) from None
    refusal = _first_refusal(tree, env)
    if refusal is not None:
        line, why = refusal
        raise TemplateRefused(f"Template {name}, line {line}: refused: {why}", template=name, line=line)
    if context_keys is not None:
        allowed = set(context_keys) | set(env.globals)
        for variable in sorted(meta.find_undeclared_variables(tree) - allowed):
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == variable), None)
            where = f", line {line}" if line else ""
            raise TemplateError(f"Template {name}{where}: '{variable}' is undefined", template=name, line=line)
    return tree


class CheckedLoader(jinja2.BaseLoader):
    """Loads through ``loader`` and runs :func:`check_source` on every source before it compiles, so a
    template stored without validation (written straight to the database or the disk) is refused too."""

    def __init__(self, loader: jinja2.BaseLoader) -> None:
        self.loader = loader

    def get_source(self, environment: jinja2.Environment, template: str):
        source, filename, uptodate = self.loader.get_source(environment, template)
        check_source(environment, source, template)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.loader.list_templates()


# --- errors --------------------------------------------------------------------------------------
_UNDEFINED_NAME = re.compile(r"'(\w+)' is undefined")
_UNDEFINED_FIELD = re.compile(r"'[\w. ]+ object' has no attribute '(\w+)'")


def safe_detail(exc: BaseException, source: str | None) -> str:
    """The exception's own text when it only names something spelt in the template; else a plain sentence."""
    if isinstance(exc, TemplateLimit):
        return f"refused: {exc}"
    if isinstance(exc, SecurityError):
        return "refused: this reaches something templates may not use (Python internals, or a change to data)"
    if isinstance(exc, jinja2.UndefinedError) and source:
        text = str(exc.message or "")
        match = _UNDEFINED_NAME.fullmatch(text) or _UNDEFINED_FIELD.fullmatch(text)
        if match and re.search(rf"\b{re.escape(match.group(1))}\b", source):
            return text
        return "uses a variable or field its context does not have"
    if isinstance(exc, RecursionError):
        return "a macro calls itself without end"
    return f"an expression cannot be computed ({type(exc).__name__})"


def template_line(exc: BaseException, filename: str | None) -> int | None:
    """The line of the template ``filename`` where ``exc`` was raised (the innermost frame)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if filename is not None and code.co_filename == filename:
            template = tb.tb_frame.f_globals.get("__jinja_template__")
            line = template.get_corresponding_lineno(tb.tb_lineno) if template is not None else tb.tb_lineno
        tb = tb.tb_next
    return line


def render_error(exc: BaseException, name: str, *, line: int | None = None, source: str | None = None) -> TemplateError:
    """A :class:`TemplateError` naming the template and line, and no value of the render."""
    if isinstance(exc, TemplateError):
        return exc
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = exc.name or name
        return TemplateError(f"Template {where}, line {exc.lineno}: {exc.message}", template=where, line=exc.lineno)
    where = f", line {line}" if line else ""
    return TemplateError(f"Template {name}{where}: {safe_detail(exc, source)}", template=name, line=line)
