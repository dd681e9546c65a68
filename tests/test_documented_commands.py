"""Every command README.md and docs/ tell a user to type, run as written, or its plan: by file and line.

The lessons are run by tests/test_lessons.py. Here every other page: each ```sh block is a list of
commands (a `\\` joins lines, a `  # ...` comment is dropped), each ```console block a `$ command`
and what it prints. How each command is exercised is decided by the first rule below that matches
it; a command no rule matches fails, so a new page cannot add a command that nothing runs:

- run: to the end, exit 0, with this environment's tools first on PATH (as after activating .venv);
- plan: with `--plan`, which goes through the real run up to the first server start (stacks,
  commands, slots, bounds, run length) and starts nothing: the commands that load servers for minutes;
- serve: a server, started as in its own terminal, ready when it listens or prints its ready line,
  stopped (Ctrl-C) when the block ends; port 8000 becomes a free port, as in the lessons;
- elsewhere: a test that runs the same command (an image, compose, a second machine), named here
  and checked to still hold the command's words;
- the suite itself (`make test`), which `.ci/run` runs.

A ```console block's printed lines must appear in what its command prints.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab import ROOT
from lab import __main__ as lab_main
from lab.infra.processes import free_port
from lab.scenarios import command as compare

PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if "lessons" not in p.parts)]
FENCE = re.compile(r"(?ms)^( *)```(\w*)\n(.*?)^\1```$")
LANGUAGES = {"sh", "console", "text", "yaml", "toml", "json", "python", "dockerfile", "ini"}
BIN = Path(sys.executable).parent


@dataclass
class Command:
    page: Path
    line: int
    text: str  # as typed, its trailing comment dropped
    expected: list[str] = field(default_factory=list)  # console blocks: the lines it prints
    comment: str = ""  # what the page says of it: "36 s wall" is held to the plan's estimate

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass
class Block:
    page: Path
    line: int
    commands: list[Command]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def strip_comment(line: str) -> str:
    """The command without its `  # ...` note (a `#` inside quotes or a URL stays)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return line.strip()
    if not words:
        return ""
    cut = re.search(r"\s+#", line)
    return (
        line[: cut.start()].strip() if cut and len(shlex.split(line[: cut.start()])) == len(words) else line
    )


def parse(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        language, body = match[2], match[3]
        first = text.count("\n", 0, match.start()) + 2  # the block's first line, 1-based
        lines = [line.strip() for line in body.splitlines()]
        commands: list[Command] = []
        if language == "sh":
            joined, start = "", first
            for offset, line in enumerate(lines):
                start = start if joined else first + offset
                joined += (" " if joined else "") + line.removesuffix("\\").strip()
                if not line.endswith("\\"):
                    command = strip_comment(joined)
                    if command:
                        commands.append(Command(page, start, command, comment=joined[len(command) :]))
                    joined = ""
        elif language == "console":
            for offset, line in enumerate(lines):
                if line.startswith("$ "):
                    commands.append(Command(page, first + offset, line[2:].strip()))
                elif line and commands:
                    commands[-1].expected.append(line)
        if commands:
            found.append(Block(page, first, commands))
    return found


def fences(page: Path) -> list[str]:
    return [match[2] for match in FENCE.finditer(page.read_text())]


BLOCKS = [block for page in PAGES for block in parse(page)]


# -- how each command is exercised ---------------------------------------------------------------

PLAN = "plan"
RUN = "run"
SERVE = "serve"
SELF = "self"


@dataclass(frozen=True)
class Rule:
    pattern: str  # a regex matched at the start of the command, .venv/bin/ taken off
    how: str  # run, plan, serve, self, or the test that runs it ("tests/test_x.py::test_y")
    ready: str = ""  # serve: a line that says it is ready (else: it listens on its port)
    port: int | None = None  # serve: where it listens when not on the free port given as PORT
    holds: tuple[str, ...] = ()  # elsewhere: words of the command the named test must still contain


RULES = [
    Rule(r"make test$", SELF),
    Rule(r"make demo$", PLAN),
    Rule(r"make serve$", SERVE, ready=r"now run:"),
    Rule(r"make dev( STACK=\S+)?$", SERVE),
    Rule(r"make starter DEST=",
         "tests/test_starter.py::test_make_starter_records_a_template_a_teammate_can_reach",
         holds=("make", "starter")),
    Rule(r"cd \.\./my-service && git init && git add -A && git commit\b",
         "tests/test_starter.py::test_make_update_brings_template_changes_and_keeps_the_teams_lock",
         holds=("init", "add", "commit")),
    Rule(r"make test && make run$", "tests/test_starter.py::test_its_own_make_test_passes",
         holds=("make", "test")),
    Rule(r"python compare\.py --help$", RUN),
    Rule(r"python (compare\.py|-m lab compare)\b", PLAN),
    Rule(r"python -m lab (list|burst|fault|hostile)\b", RUN),
    Rule(r"python -m lab h2 --stacks hypercorn -c 1", RUN),
    Rule(r"python -m lab (h2|wrk)\b", PLAN),
    Rule(r"python -m lab serve\b", SERVE, ready=r"now run:"),
    Rule(r"python -m lab postgres$", SERVE, ready=r"DATABASE_URL=postgresql://\S+:(?P<PORT>\d+)/"),
    Rule(r"python -m lab classroom (up|down)$",
         "tests/test_compose.py::test_every_stack_answers_directly_and_through_nginx", holds=("classroom",)),
    Rule(r"python (wsgi|asgi)/runfrom\w+\.py$", SERVE),
    Rule(r"(gunicorn|uvicorn|granian|hypercorn|daphne|waitress-serve) ", SERVE),
    Rule(r"locust -f (websocket_)?locustfile\.py(,lab/scenarios/slots_tab\.py)? --class-picker$", SERVE,
         ready=r"Starting web interface",
         port=8089),
    Rule(r"locust -f locustfile\.py --(master|worker)\b",
         "tests/test_locustfile.py::test_master_and_worker_load_every_stack_together",
         holds=("--master", "--worker", "--master-host")),
    Rule(r"docker build\b", "tests/test_images.py::test_the_documented_build_is_one_these_tests_build",
         holds=("docs/images.md",)),
    Rule(r"docker run\b", "tests/test_images.py::test_the_documented_docker_run_commands_serve",
         holds=("docs/images.md",)),
]  # fmt: skip


def plain(command: str) -> str:
    """The command as a rule sees it: its leading VAR=value settings and `.venv/bin/` taken off."""
    return re.sub(r"^(\w+=\S+ +)*", "", re.sub(r"(?<!\S)\.venv/bin/", "", command))


def rule_for(command: Command) -> Rule:
    for rule in RULES:
        if re.match(rule.pattern, plain(command.text)):
            return rule
    raise AssertionError(f"{command.where}: no rule says how to exercise `{command.text}`: add one")


# -- running them ----------------------------------------------------------------------------------


def environment(port: int) -> dict[str, str]:
    """As a student's shell after `. .venv/bin/activate`, with the server port moved to a free one."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(BIN.parent),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }


UVICORN = re.compile(r"^(\w+=\S+ +)*(\.venv/bin/)?uvicorn\s")


def shell(command: str, port: int, variables: dict[str, str]) -> str:
    """The command as the shell will run it: port 8000 moved, placeholders a server printed filled in."""
    text = command.replace("8000", str(port))
    for name, value in variables.items():
        text = re.sub(rf"\b{name}\b", value, text)
    if UVICORN.match(text) and "--port" not in text:
        text += f" --port {port}"  # gunicorn reads PORT from gunicorn.conf.py; uvicorn takes a flag
    return text


@dataclass
class Background:
    command: Command
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start(command: Command, rule: Rule, port: int, variables: dict[str, str], log: Path) -> Background:
    text = shell(command.text, port, variables)
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-c", text], cwd=ROOT, env=environment(port), stdout=out, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
    server = Background(command, process, log)
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"{command.where}: `{command.text}` exited {process.returncode}:\n{server.output()}"
                )
            if rule.ready:
                found = re.search(rule.ready, server.output())
                if found:
                    variables.update(found.groupdict())
                    return server
            elif listening(rule.port or port):
                return server
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{command.where}: `{command.text}` was not ready in 60 s:\n{server.output()}"
                )
            time.sleep(0.2)
    except BaseException:
        stop([server])  # started, never ready: nothing of it may outlive the test
        raise


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def stop(servers: list[Background]) -> None:
    """Ctrl-C, as the student stops each terminal; then nothing of it is left."""
    for server in reversed(servers):
        with suppress(ProcessLookupError):  # the shell may be gone and its children not
            os.killpg(server.process.pid, signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            server.process.wait(20)
        with suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)  # whatever of its process group is left
        server.process.wait()


def run(command: Command, text: str, port: int, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", text], cwd=ROOT, env=environment(port), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def exercise(command: Command, rule: Rule, port: int, variables: dict[str, str]) -> None:
    text = shell(command.text, port, variables)
    if rule.how == PLAN:
        text = "python compare.py --plan" if plain(text) == "make demo" else f"{text} --plan"
    done = run(command, text, port)
    printed = done.stdout + done.stderr
    if command.expected:  # a console block: what it prints is written under it
        missing = [
            line for line in command.expected if " ".join(line.split()) not in " ".join(printed.split())
        ]
        assert not missing, f"{command.where}: `{command.text}` did not print {missing}:\n{printed}"
        return
    assert done.returncode == 0, f"{command.where}: `{text}` exited {done.returncode}:\n{printed[-3000:]}"
    assert "Traceback" not in printed, f"{command.where}: `{text}`:\n{printed[-3000:]}"
    stated, planned = (
        re.search(r"(\d+) s wall", command.comment),
        re.search(r"^about (\d+) s$", printed, re.M),
    )
    if rule.how == PLAN and stated and planned:  # the page's time, from a run, and the plan's estimate agree
        assert 0.75 <= int(planned[1]) / int(stated[1]) <= 1.25, (
            f"{command.where}: the page says {stated[0]}, the plan {planned[0]}"
        )


def elsewhere(command: Command, rule: Rule) -> None:
    path, _, name = rule.how.partition("::")
    source = (ROOT / path).read_text()
    assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), f"{command.where}: {rule.how} is gone"
    body = source[source.index(f"def {name}(") :]
    body = body[: m.start()] if (m := re.search(r"^(async )?def ", body[1:], re.MULTILINE)) else body
    missing = [word for word in rule.holds if word not in body and word not in source]
    assert not missing, f"{command.where}: {rule.how} no longer runs `{command.text}` (no {missing})"


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_block_says_what_it_holds(page: Path) -> None:
    """A block is commands (sh), a command and its output (console), or output (text): it says which."""
    unmarked = [language or "(none)" for language in fences(page) if language not in LANGUAGES]
    assert not unmarked, f"{page.relative_to(ROOT)}: fenced blocks without a known language: {unmarked}"


def test_every_command_has_a_rule() -> None:
    for block in BLOCKS:
        for command in block.commands:
            rule_for(command)


def test_make_demo_is_the_comparison_with_its_defaults() -> None:
    """`make demo` is planned as `python compare.py`: so it must be exactly that."""
    recipe = re.search(r"^demo:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None and recipe[1] == "$(BIN)/python compare.py"


def test_make_test_is_what_ci_runs() -> None:
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)


INLINE = re.compile(r"`((?:\.venv/bin/)?python (?:compare\.py|-m lab)\b[^`]*)`")
PAGES_AND_LESSONS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", PAGES_AND_LESSONS, ids=[str(p.relative_to(ROOT)) for p in PAGES_AND_LESSONS])
def test_commands_named_in_the_text_take_the_flags_they_are_given(page: Path) -> None:
    """A command quoted inline (`python compare.py --scenario db --pool 50`), parsed by the real parser."""
    text = FENCE.sub("", page.read_text())  # the blocks are run above
    for match in INLINE.finditer(text):
        words = shlex.split(plain(match[1]).replace("...", ""))[1:]  # after `python`
        where = f"{page.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
        if (
            "[" in match[1]
            or any(re.fullmatch(r"[A-Z][A-Z_]*(:[A-Z]+)?", w) for w in words)
            or words == ["-m", "lab"]
        ):
            continue  # a form, not a command: `python -m lab fault FAULT STACK`, `[--proxy nginx]`
        try:
            if words[0] == "compare.py":
                scenario = words[words.index("--scenario") + 1] if "--scenario" in words else "slow"
                compare.parser(scenario).parse_args(words[1:])
            else:
                lab_main.parser().parse_args(words[2:])
        except SystemExit as exit:
            if exit.code:  # --help exits 0
                raise AssertionError(f"{where}: `{match[1]}` is refused by its parser") from exit


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_documented_commands_work_as_written(block: Block, tmp_path: Path) -> None:
    port = free_port()
    variables: dict[str, str] = {}  # what a server printed that later commands use (a database's PORT)
    servers: list[Background] = []
    try:
        for n, command in enumerate(block.commands):
            rule = rule_for(command)
            if rule.how == SELF:
                continue  # test_make_test_is_what_ci_runs
            if rule.how == SERVE:
                servers.append(start(command, rule, port, variables, tmp_path / f"{n}.log"))
            elif rule.how in (RUN, PLAN):
                exercise(command, rule, port, variables)
            else:
                elsewhere(command, rule)
    finally:
        stop(servers)
