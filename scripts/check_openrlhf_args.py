#!/usr/bin/env python3
"""Check the OpenRLHF command lines of a launch file against OpenRLHF's real argparse parsers.

Usage:
    python3 scripts/check_openrlhf_args.py LAUNCH_SH [--src DIR] [--strict]

    LAUNCH_SH  a shell file, e.g. the launch.sh written by `rlhf export --to openrlhf`.
    --src DIR  an OpenRLHF source tree: a directory that contains `openrlhf/cli/*.py`
               (an unzipped wheel, an untarred sdist or a git checkout; nested
               layouts such as `openrlhf-X.data/purelib/openrlhf` are found too).
               Without it the newest wheel is fetched with
               `python3 -m pip download openrlhf --no-deps` into a temporary
               directory (no OpenRLHF dependency is installed or imported).
    --strict   also fail on options that argparse would accept only as an
               abbreviation of a longer option name (argparse's allow_abbrev).

What it checks
    For every command in the file that runs an OpenRLHF CLI module
    (`python3 -m openrlhf.cli.X`, `deepspeed [opts] --module openrlhf.cli.X`,
    `torchrun [opts] -m openrlhf.cli.X`, `ray job submit ... -- python3 -m openrlhf.cli.X`;
    backslash continuations are joined, `#` comments dropped, and the command ends at
    `;`, `&&`, `||`, `|`, `&` or a redirection), it rebuilds that module's parser from
    the module's source with `ast` - the `if __name__ == "__main__":` block (or a
    function) that calls `argparse.ArgumentParser(...)` and `parser.add_argument(...)`,
    including `for x in (<literals>):` loops and f-string option names - and runs
    `parse_known_args` on the command's arguments.  Reported per command: OK, or the
    unknown options (with close matches) and invalid values (bad int/float, a value
    not in `choices`, a missing value), with argparse's own message.

    Arguments are NOT shell-expanded: `"$OUT"` stays the literal string `$OUT`.  A
    value containing `$` is accepted for any `type=` and `choices=` (it cannot be
    checked before the shell runs).

What it cannot check
    * Semantic constraints that OpenRLHF checks after parsing (asserts in the CLI's
      `__main__` block and in the trainers), e.g. `rloo/group_norm/... require
      n_samples_per_prompt > 1`, `--ds.packing_samples` needs vLLM engines, batch-size
      divisibility, `--eval.dataset` in train_ppo_ray needs a remote RM/agent.
    * Whether paths, models and datasets exist, or that dataset keys exist.
    * Options whose definition is not a literal: a keyword argument that cannot be
      evaluated statically (e.g. `default="%s" % datetime.now()...`) is dropped and
      listed as a note; a non-builtin `type=` is dropped likewise (value then
      accepted as a string).  An `add_argument` call whose option *name* cannot be
      evaluated is skipped and noted - such an option would be reported unknown.
    * Launcher options (deepspeed / torchrun / ray / python flags) before the module.

Exit status: 0 when every command parses, 1 when any fails (or none is found),
2 on usage / setup errors.  Uses only the Python standard library.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile
import zipfile
import tarfile
from dataclasses import dataclass, field

MODULE_RE = re.compile(r"^openrlhf\.cli\.([A-Za-z_][A-Za-z0-9_]*)$")
CONTROL_TOKENS = {";", "&&", "||", "|", "&", ";;", "(", ")"}


# --------------------------------------------------------------------------------------
# Obtaining the source
# --------------------------------------------------------------------------------------


def find_cli_dir(src: str) -> str:
    """Return the `openrlhf/cli` directory inside `src` (searching nested layouts)."""
    direct = os.path.join(src, "openrlhf", "cli")
    if os.path.isdir(direct):
        return direct
    if os.path.basename(os.path.normpath(src)) == "cli" and os.path.isfile(os.path.join(src, "train_rm.py")):
        return src
    hits = sorted(glob.glob(os.path.join(src, "**", "openrlhf", "cli"), recursive=True))
    hits = [h for h in hits if os.path.isdir(h)]
    if not hits:
        raise SystemExit(f"error: no openrlhf/cli directory under {src}")
    return hits[0]


def download_source() -> str:
    """pip download the newest openrlhf (no deps) into a temp dir and unpack it."""
    tmp = tempfile.mkdtemp(prefix="openrlhf-src-")
    cmd = [sys.executable, "-m", "pip", "download", "openrlhf", "--no-deps", "-d", tmp, "-q"]
    print(f"[info] downloading OpenRLHF source: {' '.join(cmd)}", file=sys.stderr)
    subprocess.run(cmd, check=True)
    for name in os.listdir(tmp):
        path = os.path.join(tmp, name)
        if name.endswith(".whl"):
            with zipfile.ZipFile(path) as z:
                z.extractall(tmp)
        elif name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path) as t:
                try:
                    t.extractall(tmp, filter="data")
                except TypeError:  # Python without extraction filters
                    t.extractall(tmp)
    return tmp


def source_version(src: str) -> str:
    for pattern in ("**/METADATA", "**/PKG-INFO"):
        for meta in glob.glob(os.path.join(src, pattern), recursive=True):
            with open(meta, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
    return "unknown"


# --------------------------------------------------------------------------------------
# Rebuilding a parser from source
# --------------------------------------------------------------------------------------


class Unevaluable(Exception):
    pass


class _DollarChoices(list):
    """`choices` container that also admits unexpanded shell values such as `$MODE`."""

    def __contains__(self, item):  # noqa: D401
        if isinstance(item, str) and "$" in item:
            return True
        return list.__contains__(self, item)


def _dollar_tolerant(fn):
    def convert(s):
        if isinstance(s, str) and "$" in s:
            return s
        return fn(s)

    convert.__name__ = getattr(fn, "__name__", "type")  # argparse uses it in messages
    return convert


SAFE_BUILTINS = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "None": None,
    "True": True,
    "False": False,
}


class SafeEval:
    """Evaluate a small, side-effect-free subset of Python expressions."""

    def __init__(self, env: dict):
        self.env = env

    def __call__(self, node: ast.AST):
        m = getattr(self, "_" + type(node).__name__, None)
        if m is None:
            raise Unevaluable(ast.unparse(node))
        return m(node)

    def _Constant(self, n):
        return n.value

    def _Name(self, n):
        if n.id in self.env:
            return self.env[n.id]
        if n.id in SAFE_BUILTINS:
            return SAFE_BUILTINS[n.id]
        raise Unevaluable(n.id)

    def _Tuple(self, n):
        return tuple(self(e) for e in n.elts)

    def _List(self, n):
        return [self(e) for e in n.elts]

    def _Set(self, n):
        return {self(e) for e in n.elts}

    def _Dict(self, n):
        return {self(k): self(v) for k, v in zip(n.keys, n.values)}

    def _UnaryOp(self, n):
        v = self(n.operand)
        ops = {ast.USub: lambda x: -x, ast.UAdd: lambda x: +x, ast.Not: lambda x: not x}
        if type(n.op) not in ops:
            raise Unevaluable(ast.unparse(n))
        return ops[type(n.op)](v)

    def _BinOp(self, n):
        a, b = self(n.left), self(n.right)
        ops = {
            ast.Add: lambda x, y: x + y,
            ast.Sub: lambda x, y: x - y,
            ast.Mult: lambda x, y: x * y,
            ast.Div: lambda x, y: x / y,
            ast.FloorDiv: lambda x, y: x // y,
            ast.Mod: lambda x, y: x % y,
            ast.Pow: lambda x, y: x**y,
        }
        if type(n.op) not in ops:
            raise Unevaluable(ast.unparse(n))
        return ops[type(n.op)](a, b)

    def _BoolOp(self, n):
        vals = [self(v) for v in n.values]
        if isinstance(n.op, ast.And):
            out = True
            for v in vals:
                out = v
                if not v:
                    break
            return out
        out = False
        for v in vals:
            out = v
            if v:
                break
        return out

    def _Compare(self, n):
        left = self(n.left)
        ops = {
            ast.Eq: lambda x, y: x == y,
            ast.NotEq: lambda x, y: x != y,
            ast.Lt: lambda x, y: x < y,
            ast.LtE: lambda x, y: x <= y,
            ast.Gt: lambda x, y: x > y,
            ast.GtE: lambda x, y: x >= y,
            ast.In: lambda x, y: x in y,
            ast.NotIn: lambda x, y: x not in y,
            ast.Is: lambda x, y: x is y,
            ast.IsNot: lambda x, y: x is not y,
        }
        for op, comp in zip(n.ops, n.comparators):
            right = self(comp)
            if type(op) not in ops or not ops[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, n):
        return self(n.body) if self(n.test) else self(n.orelse)

    def _JoinedStr(self, n):
        return "".join(str(self(v)) for v in n.values)

    def _FormattedValue(self, n):
        v = self(n.value)
        if n.conversion == ord("r"):
            v = repr(v)
        elif n.conversion == ord("s"):
            v = str(v)
        spec = self(n.format_spec) if n.format_spec is not None else ""
        return format(v, spec)

    def _Call(self, n):
        # only int(...), float(...), str(...), bool(...), tuple(...), list(...) of literals
        if isinstance(n.func, ast.Name) and n.func.id in ("int", "float", "str", "bool", "tuple", "list"):
            if n.keywords:
                raise Unevaluable(ast.unparse(n))
            return SAFE_BUILTINS[n.func.id](*[self(a) for a in n.args])
        raise Unevaluable(ast.unparse(n))


@dataclass
class BuiltParser:
    parser: argparse.ArgumentParser
    notes: list = field(default_factory=list)
    n_options: int = 0


class ParseFailure(Exception):
    pass


class RaisingParser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and sys.exit(2)
        raise ParseFailure(message)


def _is_parser_ctor(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "ArgumentParser")
            or (isinstance(node.func, ast.Name) and node.func.id == "ArgumentParser")
        )
    )


def _find_parser_block(tree: ast.Module):
    """Return (statement list, parser variable name) of the block that builds the parser."""
    candidates = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for stmt in body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and _is_parser_ctor(stmt.value)
            ):
                candidates.append((node, body, stmt.targets[0].id))
    if not candidates:
        return None, None
    # prefer `if __name__ == "__main__":`
    for node, body, name in candidates:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return body, name
    _, body, name = candidates[0]
    return body, name


def build_parser(module_path: str) -> BuiltParser:
    with open(module_path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=module_path)
    body, pname = _find_parser_block(tree)
    if body is None:
        raise SystemExit(f"error: no argparse.ArgumentParser() found in {module_path}")

    notes: list = []
    built = BuiltParser(parser=None, notes=notes)  # type: ignore[arg-type]
    objs: dict = {}  # variable name -> parser / argument group

    def call_kwargs(call: ast.Call, ev: SafeEval, where: str) -> dict:
        kw = {}
        for k in call.keywords:
            if k.arg is None:
                notes.append(f"{where}: dropped **{ast.unparse(k.value)}")
                continue
            try:
                kw[k.arg] = ev(k.value)
            except Unevaluable:
                notes.append(f"{where}: dropped non-literal {k.arg}={ast.unparse(k.value)}")
        return kw

    def do_add_argument(target, call: ast.Call, ev: SafeEval):
        try:
            names = [ev(a) for a in call.args]
        except Unevaluable:
            notes.append(f"line {call.lineno}: skipped add_argument({ast.unparse(call)[:80]}...): name not literal")
            return
        where = f"line {call.lineno} {names[0] if names else '?'}"
        kw = call_kwargs(call, ev, where)
        t = kw.get("type")
        if t is not None:
            if t in (int, float, str, bool):
                kw["type"] = _dollar_tolerant(t)
            else:
                notes.append(f"{where}: dropped type={t!r}")
                kw.pop("type")
        if "choices" in kw and kw["choices"] is not None:
            kw["choices"] = _DollarChoices(kw["choices"])
        kw.pop("help", None)  # help text is irrelevant here (and may hold '%' format chars)
        try:
            target.add_argument(*names, **kw)
            built.n_options += 1
        except Exception as e:  # e.g. a conflict
            notes.append(f"{where}: add_argument failed: {e}")

    def run_block(stmts, env):
        ev = SafeEval(env)
        for st in stmts:
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                v = st.value
                if _is_parser_ctor(v):
                    kw = call_kwargs(v, ev, f"line {v.lineno} ArgumentParser")
                    kw.pop("description", None)
                    kw.pop("formatter_class", None)
                    objs[st.targets[0].id] = RaisingParser(**kw)
                elif (
                    isinstance(v, ast.Call)
                    and isinstance(v.func, ast.Attribute)
                    and v.func.attr in ("add_argument_group", "add_mutually_exclusive_group")
                    and isinstance(v.func.value, ast.Name)
                    and v.func.value.id in objs
                ):
                    kw = call_kwargs(v, ev, f"line {v.lineno} {v.func.attr}")
                    try:
                        args = [ev(a) for a in v.args]
                    except Unevaluable:
                        args = []
                    objs[st.targets[0].id] = getattr(objs[v.func.value.id], v.func.attr)(*args, **kw)
            elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
                c = st.value
                if (
                    isinstance(c.func, ast.Attribute)
                    and c.func.attr == "add_argument"
                    and isinstance(c.func.value, ast.Name)
                    and c.func.value.id in objs
                ):
                    do_add_argument(objs[c.func.value.id], c, ev)
                elif (
                    isinstance(c.func, ast.Attribute)
                    and c.func.attr == "set_defaults"
                    and isinstance(c.func.value, ast.Name)
                    and c.func.value.id in objs
                ):
                    objs[c.func.value.id].set_defaults(**call_kwargs(c, ev, f"line {c.lineno} set_defaults"))
            elif isinstance(st, ast.For) and isinstance(st.target, (ast.Name, ast.Tuple)):
                try:
                    seq = ev(st.iter)
                except Unevaluable:
                    notes.append(f"line {st.lineno}: skipped for-loop over non-literal {ast.unparse(st.iter)}")
                    continue
                for item in seq:
                    sub = dict(env)
                    if isinstance(st.target, ast.Name):
                        sub[st.target.id] = item
                    else:
                        for t, v in zip(st.target.elts, item):
                            sub[t.id] = v  # type: ignore[attr-defined]
                    run_block(st.body, sub)
            elif isinstance(st, ast.If):
                try:
                    branch = st.body if SafeEval(env)(st.test) else st.orelse
                except Unevaluable:
                    # an if around add_argument calls we cannot decide: keep both branches' calls
                    if any("add_argument" in ast.unparse(s) for s in st.body + st.orelse):
                        notes.append(f"line {st.lineno}: undecidable if; took both branches")
                    branch = st.body + st.orelse
                run_block(branch, env)
            # anything else (parse_args, hierarchize, asserts, train(args)) is ignored

    run_block(body, {})
    if pname not in objs:
        raise SystemExit(f"error: could not rebuild the parser in {module_path}")
    built.parser = objs[pname]
    return built


# --------------------------------------------------------------------------------------
# Reading the launch file
# --------------------------------------------------------------------------------------


@dataclass
class Command:
    line: int
    module: str
    argv: list
    text: str


def logical_lines(text: str):
    """Yield (first line number, logical line) with backslash-newline joined and
    lines with unbalanced quotes merged with the following ones."""
    raw = text.split("\n")
    i = 0
    while i < len(raw):
        start = i
        buf = raw[i]
        i += 1
        while True:
            while buf.endswith("\\") and not buf.endswith("\\\\") and i < len(raw):
                buf = buf[:-1] + " " + raw[i]
                i += 1
            try:
                shlex.split(buf, comments=True)
                break
            except ValueError:  # unbalanced quote: a multi-line string
                if i >= len(raw):
                    break
                buf = buf + "\n" + raw[i]
                i += 1
        yield start + 1, buf


def tokenize(line: str):
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    try:
        return list(lex)
    except ValueError:
        return shlex.split(line, comments=True)


def find_commands(path: str):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cmds = []
    for lineno, line in logical_lines(text):
        if "openrlhf.cli." not in line:
            continue
        toks = tokenize(line)
        for i, tok in enumerate(toks):
            m = MODULE_RE.match(tok)
            if not m:
                continue
            if i == 0 or toks[i - 1] not in ("-m", "--module"):
                # also accept `--module=openrlhf.cli.X`? rare; skip plain mentions (echo ...)
                continue
            argv = []
            for t in toks[i + 1 :]:
                if t in CONTROL_TOKENS or (t and set(t) <= set("<>&|") and t not in ("&&", "||")):
                    break
                argv.append(t)
            # drop an fd number that belonged to a redirection, e.g. `2>&1`
            j = i + 1 + len(argv)
            if argv and j < len(toks) and toks[j] and toks[j][0] in "<>" and argv[-1].isdigit():
                argv.pop()
            cmds.append(Command(lineno, m.group(1), argv, line.strip()))
    return cmds


# --------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------


def option_strings(parser: argparse.ArgumentParser):
    out = []
    for a in parser._actions:
        out.extend(s for s in a.option_strings if s.startswith("--"))
    return out


def _classify(name: str, known: list) -> str:
    """'exact', 'abbrev' (a unique prefix argparse would accept), 'ambiguous' or 'unknown'."""
    if name in known:
        return "exact"
    pref = [k for k in known if k.startswith(name)]
    if len(pref) == 1:
        return "abbrev"
    if len(pref) > 1:
        return "ambiguous"
    return "unknown"


def _drop_option(argv: list, name: str) -> list:
    """Remove every occurrence of option `name` (and the values after it) from argv."""
    out, skip = [], False
    for t in argv:
        if skip and not (t.startswith("--") and len(t) > 2):
            continue
        skip = False
        if t == name or t.startswith(name + "="):
            skip = t == name
            continue
        out.append(t)
    return out


def check_command(cmd: Command, built: BuiltParser, strict: bool):
    """Return (ok, list of problem lines, list of warning lines)."""
    parser = built.parser
    known = option_strings(parser)
    problems, warnings = [], []

    # 1. option names (all of them, not just the first bad one)
    argv = list(cmd.argv)
    for t in cmd.argv:
        if not (t.startswith("--") and len(t) > 2):
            continue
        name = t.split("=", 1)[0]
        kind = _classify(name, known)
        if kind == "exact":
            continue
        if kind == "abbrev":
            full = [k for k in known if k.startswith(name)][0]
            msg = f"{name} is accepted by argparse only as an abbreviation of {full}"
            (problems if strict else warnings).append(msg)
            continue
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        problems.append(f"{kind} option {name}{hint}")
        argv = _drop_option(argv, name)

    # 2. values: parse what is left; on an error, report it, drop that option, retry
    for _ in range(50):
        try:
            _, extras = parser.parse_known_args(argv)
        except ParseFailure as e:
            problems.append(f"argparse: {e}")
            m = re.match(r"argument (\S+?)(?:/\S+)?:", str(e))
            if not m:
                break
            argv = _drop_option(argv, m.group(1))
            continue
        for x in extras:
            problems.append(f"stray argument {x!r} (argparse: unrecognized arguments)")
        break
    return (not problems), problems, warnings


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("launch", help="shell launch file (e.g. launch.sh from `rlhf export --to openrlhf`)")
    ap.add_argument("--src", help="OpenRLHF source directory (default: pip download into a temp dir)")
    ap.add_argument("--strict", action="store_true", help="fail on abbreviated option names")
    ap.add_argument("-v", "--verbose", action="store_true", help="print parser-building notes and argv")
    a = ap.parse_args(argv)

    if not os.path.isfile(a.launch):
        print(f"error: no such file {a.launch}", file=sys.stderr)
        return 2
    src = a.src or download_source()
    cli_dir = find_cli_dir(src)
    version = source_version(src)
    print(f"OpenRLHF source: {cli_dir} (version {version})")

    cmds = find_commands(a.launch)
    if not cmds:
        print(f"FAIL: no `-m/--module openrlhf.cli.<name>` command found in {a.launch}")
        return 1

    parsers: dict = {}
    n_fail = 0
    for cmd in cmds:
        label = f"{a.launch}:{cmd.line} openrlhf.cli.{cmd.module}"
        mod_path = os.path.join(cli_dir, cmd.module + ".py")
        if not os.path.isfile(mod_path):
            avail = sorted(os.path.splitext(p)[0] for p in os.listdir(cli_dir) if p.endswith(".py"))
            print(f"FAIL {label}: no module openrlhf/cli/{cmd.module}.py (available: {', '.join(avail)})")
            n_fail += 1
            continue
        if cmd.module not in parsers:
            parsers[cmd.module] = build_parser(mod_path)
            b = parsers[cmd.module]
            if a.verbose or b.notes:
                print(f"  [parser {cmd.module}: {b.n_options} options rebuilt; {len(b.notes)} note(s)]")
                for n in b.notes:
                    print(f"    note: {n}")
        ok, problems, warnings = check_command(cmd, parsers[cmd.module], a.strict)
        n_opts = sum(1 for t in cmd.argv if t.startswith("--"))
        if ok:
            print(f"OK   {label} ({n_opts} options)")
        else:
            n_fail += 1
            print(f"FAIL {label} ({n_opts} options)")
            for p in problems:
                print(f"       - {p}")
        for w in warnings:
            print(f"       warning: {w}")
        if a.verbose:
            print(f"       argv: {cmd.argv}")

    print(f"Summary: {len(cmds) - n_fail}/{len(cmds)} command(s) OK, {n_fail} failed (OpenRLHF {version})")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
