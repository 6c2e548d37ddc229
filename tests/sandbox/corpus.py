"""Escape and abuse attempts (each must be refused at save or stopped at run) and benign hooks that must work.

Every attempt is written so that, were the sandbox to let it through, the hook would return normally;
"stopped" means the save is refused or the run ends in an error (exception, bad result, timeout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Attempt:
    name: str
    code: str
    stage: str  # "save": validate refuses it; "run": the dry run ends in an error
    hook_type: str = "transform"


def _t(body: str) -> str:
    """A transform hook whose body is ``body`` (indented by four spaces)."""
    lines = body.strip("\n").splitlines()
    return "def transform(tag_name, raw_value, context):\n" + "\n".join("    " + line for line in lines) + "\n"


ATTEMPTS: list[Attempt] = [
    # -- the object graph: __class__ / __subclasses__ / __globals__ / __builtins__ --
    Attempt(name="class_bases_subclasses", stage="save", code=_t("return ().__class__.__bases__[0].__subclasses__()")),
    Attempt(name="func_globals", stage="save", code=_t("return transform.__globals__")),
    Attempt(name="builtins_name", stage="save", code=_t("return __builtins__['open']")),
    Attempt(name="object_subclasses", stage="save", code=_t("return object.__subclasses__()")),
    Attempt(name="nfkc_dunder", stage="save", code=_t("return raw_value.__\uff43lass__")),
    Attempt(name="fstring_dunder", stage="save", code=_t("return f'{raw_value.__class__}'")),
    Attempt(name="getattr_computed_class", stage="run", code=_t("return getattr(raw_value, '__cl' + 'ass__')")),
    Attempt(name="getattr_computed_subclasses", stage="run",
            code=_t("base = type(raw_value).mro()[-1]\nreturn getattr(base, '_' + '_subclasses__')()")),
    Attempt(name="getattr_globals_of_builtin_wrapper", stage="run",
            code=_t("return getattr(sorted, '__glo' + 'bals__')['__builtins__']")),
    Attempt(name="type_of_class", stage="run", code=_t("return type(int).mro()")),
    Attempt(name="type_three_args", stage="run", code=_t("X = type('X', (), {'y': 1})\nreturn X.y")),
    Attempt(name="metaclass_keyword", stage="save", code="class A(metaclass=type):\n    pass\n" + _t("return 1")),
    Attempt(name="define_del", stage="save", code="class A:\n    def __del__(self):\n        pass\n" + _t("return 1")),
    Attempt(name="define_getattribute", stage="save",
            code="class A:\n    def __getattribute__(self, n):\n        return 1\n" + _t("return 1")),
    # -- frames and tracebacks --
    Attempt(name="cve_2023_37271_gi_frame", stage="save",
            code=_t("def gen():\n    yield 1\ng = gen()\nreturn g.gi_frame.f_back.f_back.f_builtins")),
    Attempt(name="gi_frame_computed", stage="run",
            code=_t("g = (i for i in [1])\nf = getattr(g, 'gi_' + 'frame')\nreturn getattr(f, 'f_' + 'back')")),
    Attempt(name="gi_code", stage="save", code=_t("g = (i for i in [1])\nreturn g.gi_code")),
    Attempt(name="traceback_tb_frame", stage="save",
            code=_t("try:\n    1 / 0\nexcept Exception as e:\n    return e.__traceback__.tb_frame.f_globals")),
    Attempt(name="traceback_computed", stage="run",
            code=_t("try:\n    1 / 0\nexcept Exception as e:\n    tb = getattr(e, '__trace' + 'back__')\n"
                    "    return getattr(tb, 'tb_' + 'frame')")),
    Attempt(name="exception_context", stage="save",
            code=_t("try:\n    1 / 0\nexcept Exception as e:\n    return e.__context__")),
    # -- str.format / string.Formatter (CVE-2023-41039) --
    Attempt(name="format_class", stage="run", code=_t("return '{0.__class__}'.format(raw_value)")),
    Attempt(name="format_globals", stage="run", code=_t("return '{0.__globals__}'.format(transform)")),
    Attempt(name="format_map", stage="run", code=_t("return '{x.__class__}'.format_map({'x': raw_value})")),
    Attempt(name="str_format_unbound", stage="run", code=_t("return str.format('{0.__class__}', raw_value)")),
    Attempt(name="format_via_getattr", stage="run",
            code=_t("f = getattr('{0.__class__}', 'form' + 'at')\nreturn f(1)")),
    Attempt(name="format_subclass", stage="run",
            code="class S(str):\n    pass\n" + _t("return S('{0.__class__}').format(raw_value)")),
    Attempt(name="cve_2023_41039_string_formatter", stage="save",
            code=_t("import string\nreturn string.Formatter().format('{0.__class__}', raw_value)")),
    # -- introspection builtins and code execution --
    Attempt(name="vars", stage="run", code=_t("return vars()")),
    Attempt(name="globals", stage="run", code=_t("return globals()")),
    Attempt(name="locals", stage="run", code=_t("return locals()")),
    Attempt(name="dir", stage="run", code=_t("return dir(raw_value)")),
    Attempt(name="eval", stage="save", code=_t("return eval('1 + 1')")),
    Attempt(name="exec", stage="save", code=_t("exec('x = 1')\nreturn 1")),
    Attempt(name="compile", stage="run", code=_t("return compile('1', 'x', 'eval')")),
    Attempt(name="dunder_import", stage="save", code=_t("return __import__('os').getcwd()")),
    Attempt(name="breakpoint", stage="save", code=_t("breakpoint()\nreturn 1")),
    # -- imports --
    *[Attempt(name=f"import_{m}", stage="save", code=f"import {m}\n" + _t("return 1"))
      for m in ("os", "sys", "subprocess", "socket", "importlib", "builtins", "ctypes", "pickle", "string")],
    Attempt(name="import_in_function", stage="save", code=_t("import os\nreturn os.getcwd()")),
    Attempt(name="import_dotted", stage="save", code="import os.path\n" + _t("return 1")),
    Attempt(name="import_relative", stage="save", code="from . import x\n" + _t("return 1")),
    Attempt(name="import_star", stage="save", code="from math import *\n" + _t("return 1")),
    Attempt(name="import_private_name", stage="save", code="from json import decoder\n" + _t("return 1")),
    # -- files and sockets --
    Attempt(name="open_file", stage="run", code=_t("return open('/etc/passwd').read()")),
    Attempt(name="socket_via_curated", stage="run",
            code=_t("import json\nreturn getattr(json, 'soc' + 'ket').socket()")),
    # -- the curated modules do not lead back to the real ones --
    Attempt(name="datetime_sys", stage="run", code=_t("import datetime\nreturn datetime.sys.modules['os']")),
    Attempt(name="json_codecs", stage="run", code=_t("import json\nreturn json.codecs.lookup('utf-8')")),
    Attempt(name="json_decoder_module", stage="run", code=_t("import json\nreturn json.decoder.scanner")),
    Attempt(name="math_loader", stage="save", code=_t("import math\nreturn math.__loader__")),
    Attempt(name="math_loader_computed", stage="run", code=_t("import math\nreturn getattr(math, '__load' + 'er__')")),
    Attempt(name="re_sre_compile", stage="run", code=_t("import re\nreturn re.sre_compile.compile('a', 0)")),
    Attempt(name="re_pattern_unwrap", stage="run", code=_t("import re\nreturn re.match('a', 'a').re.pattern")),
    Attempt(name="statistics_sys", stage="run", code=_t("import statistics\nreturn statistics.sys.modules")),
    Attempt(name="datetime_module_attr", stage="save", code=_t("import datetime\nreturn datetime.datetime.__module__")),
    Attempt(name="cve_2024_47532_attributeerror_obj", stage="run",
            code=_t("import math\ntry:\n    math.nope\nexcept AttributeError as e:\n    return e.obj.sys")),
    Attempt(name="cve_2025_22153_try_star", stage="save",
            code=_t("try:\n    raise ValueError(1)\nexcept* ValueError as eg:\n    return eg.exceptions\nreturn 1")),
    # CVE-2026-55830: a positional-only parameter named like a guard shadowed it for a nested function's body.
    Attempt(name="cve_2026_55830_posonly_shadows_getattr", stage="save",
            code=_t("def peek(_getattr_, /):\n    return raw_value.__class__\nreturn peek(getattr)")),
    Attempt(name="cve_2026_55830_posonly_shadows_write", stage="save",
            code="import json\n" + _t("def poison(_write_, /):\n    json.dumps = len\n"
                                      "poison(lambda o: o)\nreturn json.dumps([1])")),
    # CVE-2026-76825: string.Formatter field resolution walks attributes in C, past the attribute guard.
    Attempt(name="cve_2026_76825_formatter_get_field", stage="save",
            code=_t("import string\nreturn string.Formatter().get_field('0.__class__', [raw_value], {})")),
    Attempt(name="cve_2026_76825_vformat_via_str", stage="run",
            code=_t("f = getattr(str, 'format_map')\nreturn f('{x.__class__}', {'x': raw_value})")),
    # -- writes outside the script's own objects --
    Attempt(name="write_module_attr", stage="run", code=_t("import math\nmath.pi = 3\nreturn math.pi")),
    Attempt(name="write_class_attr", stage="run", code="class A:\n    pass\n" + _t("A.x = 1\nreturn A.x")),
    Attempt(name="write_builtin_func_attr", stage="run", code=_t("len.x = 1\nreturn 1")),
    # -- resource abuse --
    Attempt(name="infinite_loop", stage="run", code=_t("while True:\n    pass")),
    Attempt(name="catch_and_loop", stage="run",
            code=_t("while True:\n    try:\n        while True:\n            pass\n"
                    "    except BaseException:\n        pass")),
    Attempt(name="memory_list", stage="run", code=_t("return len([0] * 10**10)")),
    Attempt(name="memory_str", stage="run", code=_t("return len('a' * 10**10)")),
    Attempt(name="memory_growth", stage="run", code=_t("x = []\nwhile True:\n    x.append('a' * 10**6)")),
    Attempt(name="deep_recursion", stage="run", code="def f(n):\n    return f(n + 1)\n" + _t("return f(0)")),
    Attempt(name="huge_power", stage="run", code=_t("return 10**10**8 > 0")),
    Attempt(name="huge_pow_builtin", stage="run", code=_t("return pow(10, 10**8) > 0")),
    Attempt(name="catastrophic_regex", stage="run", code=_t("import re\nreturn re.match('(a+)+$', 'a' * 40 + 'b')")),
    Attempt(name="regex_long_input", stage="run", code=_t("import re\nreturn re.search('a', 'b' * 200000)")),
    Attempt(name="nested_source", stage="save", code=_t("return " + "(" * 300 + "1" + ")" * 300)),
    Attempt(name="deep_expression_source", stage="save", code=_t("return " + "+".join(["1"] * 30000))),
    # -- results that must not cross to the host --
    Attempt(name="huge_result", stage="run", code=_t("return 'x' * 5000000")),
    Attempt(name="self_referencing_result", stage="run", code=_t("a = []\na.append(a)\nreturn a")),
    Attempt(name="deeply_nested_result", stage="run", code=_t("a = []\nfor i in range(100):\n    a = [a]\nreturn a")),
    Attempt(name="object_result", stage="run", code="class A:\n    pass\n" + _t("return A()")),
    Attempt(name="str_subclass_result", stage="run", code="class S(str):\n    pass\n" + _t("return S('x')")),
    Attempt(name="function_result", stage="run", code=_t("return transform")),
    Attempt(name="bigint_result", stage="run", code=_t("return 2**80")),
    Attempt(name="tuple_result", stage="run", code=_t("return (1, 2)")),
]


@dataclass(frozen=True, kw_only=True)
class Benign:
    name: str
    code: str
    test_input: dict[str, Any]
    expected: Any
    hook_type: str = "transform"


def _input(raw_value: Any = 4, tag_name: str = "motor_speed") -> dict[str, Any]:
    return {"tag_name": tag_name, "raw_value": raw_value}


BENIGN: list[Benign] = [
    Benign(name="comprehensions", test_input=_input(4), expected=[12, {"0": 0, "1": 1}, [0, 2]],
           code=_t("return [sum([x * 2 for x in range(raw_value)]), {str(i): i * i for i in range(2)},\n"
                   "        sorted({x for x in [2, 0, 2]})]")),
    Benign(name="fstring", test_input=_input(1.5), expected="motor_speed=1.50 (  x)",
           code=_t("return f'{tag_name}={raw_value:.2f} ({\"x\":>3})'")),
    Benign(name="class_as_record", test_input=_input(4), expected=[5, "R(5)"],
           code="class R:\n    def __init__(self, v):\n        self.v = v\n    def label(self):\n"
                "        return f'R({self.v})'\n" + _t("r = R(raw_value)\nr.v = r.v + 1\nreturn [r.v, r.label()]")),
    Benign(name="try_except", test_input=_input(0), expected=-1,
           code=_t("try:\n    return 1 / raw_value\nexcept ZeroDivisionError:\n    return -1")),
    Benign(name="lambda_sorted_key", test_input=_input(), expected=["a", "bb", "ccc"],
           code=_t("return sorted(['bb', 'ccc', 'a'], key=lambda s: len(s))")),
    Benign(name="string_methods", test_input=_input(tag_name=" line_3 "), expected="LINE-3|3",
           code=_t("s = tag_name.strip().upper().replace('_', '-')\nreturn '|'.join([s, s.split('-')[1]])")),
    Benign(name="math", test_input=_input(2), expected=[1.414, 3.142, 2],
           code="import math\n" + _t("return [round(math.sqrt(raw_value), 3), round(math.pi, 3), math.floor(2.5)]")),
    Benign(name="datetime", test_input=_input(), expected="2024-01-02T00:00:00+00:00",
           code="from datetime import datetime, timedelta, timezone\n"
                + _t("d = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=1)\nreturn d.isoformat()")),
    Benign(name="json", test_input=_input(), expected=[1, 2],
           code="import json\n" + _t("return json.loads(json.dumps({'a': [1, 2]}))['a']")),
    Benign(name="statistics_re", test_input=_input(), expected=2,
           code="import re\nimport statistics\n"
                + _t("return statistics.mean([int(x) for x in re.findall(r'\\d+', 'a1b2c3')])")),
    Benign(name="types_and_unpacking", test_input=_input(3), expected=[True, True, True, [1, 2, 3]],
           code=_t("a, (b, c) = 1, (2, raw_value)\nreturn [isinstance([], list), type(()) is tuple,\n"
                   "        type(raw_value) == int, [x for x, y in zip([a, b, c], 'xyz')]]")),
    Benign(name="inplace_and_generators", test_input=_input(3), expected=[6, 8, [0, 1, 4]],
           code=_t("n = 0\nfor i in range(raw_value + 1):\n    n += i\nm = 2\nm **= 3\n"
                   "return [n, m, list(x * x for x in range(raw_value))]")),
]
