"""The parser kind: a user file parser (seed 004), ``parse(text, context) -> list[dict]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from tagpipe.sandbox.plain import plain_copy
from tagpipe.sandbox.program import Kind, Program
from tagpipe.sandbox.results import CodeError
from tagpipe.sandbox.usercode import BadInput, compile_function_module, function_of, run_module

# One file's records: more than a hook's result may hold, still bounded by the worker's memory and the frame.
RECORDS_ITEMS = 2_000_000
RECORDS_CHARS = 32_000_000

EXAMPLE = '''\
def parse(text, context):
    """One record per line: station#temperature, temperature in tenths of a degree."""
    records = []
    for line in text.splitlines():
        if "#" not in line:
            continue
        station, temperature = line.split("#")[:2]
        records.append({"station": station.strip(), "temperature": int(temperature) * 0.1})
    return records
'''


@dataclass(frozen=True, kw_only=True)
class ParserProgram(Program):
    """``code`` defines ``parse(text, context)`` returning one dict per record."""

    kind: ClassVar[str] = "parser"


class ParserRunner:
    __slots__ = ("files", "func")

    def __init__(self, func: Any, filename: str) -> None:
        self.func = func
        self.files = {filename: "parser"}

    def run(self, inputs: dict[str, Any], context: dict[str, Any]) -> Any:
        text = inputs.get("text")
        if type(text) is not str:
            raise BadInput("inputs need text (the file's content as a str)")
        return self.func(text, context)


def _compile(program: ParserProgram, filename: str) -> tuple[Any, list[CodeError]]:
    return compile_function_module(program.code, filename, "parse", 2)


def _load(program: ParserProgram, compiled: Any, filename: str, state: dict[str, Any] | None) -> ParserRunner:
    return ParserRunner(function_of(run_module(compiled, f"parser_{program.id}", filename), "parse"), filename)


def _check(program: ParserProgram, out: Any) -> list[dict[str, Any]]:
    if type(out) is not list:
        raise ValueError(f"parse must return a list of dicts, not a {type(out).__name__}")
    for index, record in enumerate(out):
        if type(record) is not dict:
            raise ValueError(f"parse must return a list of dicts; item {index} is a {type(record).__name__}")
    records: list[dict[str, Any]] = plain_copy(out, RECORDS_ITEMS, RECORDS_CHARS)
    return records


PARSER = Kind(
    name="parser", program=ParserProgram, compile=_compile, load=_load, check=_check,
    description="A file parser (seed 004): parse(text, context) returns one dict per record.",
    inputs='{"text": the file content as a str}',
    result="the records: a list of dicts of plain data",
)  # fmt: skip
