"""Mutation testing of the modules that carry Beacon's promises (`make mutate`), with Cosmic Ray.

    python mutation/run.py [NAME ...]             names from mutation/modules.toml (default: all of them)
    python mutation/run.py --recheck NAME ...     run the last run's unexplained survivors again (after new tests)
    python mutation/run.py --resume NAME ...      go on with an interrupted run (the module unchanged)
    python mutation/run.py --report NAME ...      report the last run as it stands (partial if interrupted)

For each module: copy the working tree (tracked and untracked files, not .venv) into
.mutation/NAME/tree, so a run never touches your files and two modules can run at once; let
Cosmic Ray list the mutants; skip the ones in type annotations and in the `*`/`**` markers of
a signature (they cannot run or cannot change behaviour, see `signature_spans`); check that the
module's tests pass unmutated; run the tests once per mutant (SQLite, --nomigrations, stop at
the first failure); then report.

A surviving mutant is either a missing test (write it) or equivalent to the real code: then it
goes into mutation/equivalent.toml with the reason. The run exits 1 while any survivor is
unexplained. It writes the module's row of the table in docs/mutation.md and every survivor,
with its diff, to .mutation/NAME/survivors.txt.
"""

import ast
import fcntl
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from datetime import date
from pathlib import Path

from cosmic_ray.mutating import mutate_and_test
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
DOC = ROOT / "docs" / "mutation.md"
BEGIN, END = "<!-- mutate:results -->", "<!-- /mutate:results -->"
PYTEST = "-m pytest -x -q -p no:cacheprovider --nomigrations"
# Mutants run this many at a time, each worker in its own copy of the tree.
JOBS = int(os.environ.get("MUTATE_JOBS", "2"))


def modules() -> dict[str, dict]:
    return tomllib.loads((ROOT / "mutation" / "modules.toml").read_text())


def equivalents() -> list[dict]:
    return tomllib.loads((ROOT / "mutation" / "equivalent.toml").read_text()).get("mutant", [])


def run(command: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=test_env(), check=False, **kwargs)  # noqa: S603 - our own tools


def test_env() -> dict[str, str]:
    # SQLite in memory: fast, and nothing shared with another run or another checkout.
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def copy_tree(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607 - git on PATH
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    if dest.exists():
        shutil.rmtree(dest)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def signature_spans(source: str) -> tuple[list, list]:
    """Where a mutant cannot be a real one: annotations (never run; `X | None` → `X - None` only
    breaks the import), and the parameter lists minus their defaults (where `*` and `**` are
    markers, not operators). Both as ((row, col), (row, col)) spans, rows from 1."""

    def span(node):
        return (node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset)

    annotations, signatures = [], []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(span(node.annotation))
        elif isinstance(node, ast.AnnAssign):
            annotations.append(span(node.annotation))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            if getattr(node, "returns", None) is not None:
                annotations.append(span(node.returns))
            body_start = (
                (node.body[0].lineno, node.body[0].col_offset) if isinstance(node.body, list) else span(node.body)[0]
            )
            defaults = [span(d) for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None]
            signatures.append(((node.lineno, node.col_offset), body_start, defaults))
    return annotations, signatures


def function_spans(source: str, names: list[str]) -> list:
    """The spans of the functions (or classes) named `names`, at any depth, their decorators
    included (`@transaction.atomic` removed is a mutant of the function it wraps)."""
    return [
        (
            (min([node.lineno] + [d.lineno for d in node.decorator_list]), node.col_offset),
            (node.end_lineno, node.end_col_offset),
        )
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name in names
    ]


def keep_only(session: Path, module: Path, names: list[str]) -> int:
    """Drop from the session the mutants outside the functions `names` (a module's `functions`
    in modules.toml: the promise lives in a few functions of a larger module). Returns how many."""
    spans = function_spans(module.read_text(), names)
    missing = set(names) - {n.name for n in ast.walk(ast.parse(module.read_text())) if hasattr(n, "name")}
    if missing:
        sys.exit(f"{module}: no function named {', '.join(sorted(missing))} (modules.toml `functions`)")
    with use_db(str(session), WorkDB.Mode.open) as db:
        outside = [
            item.job_id
            for item in db.work_items
            if not any(s <= tuple(m.start_pos) < e for m in item.mutations for s, e in spans)
        ]
    with sqlite3.connect(session) as connection:
        for table in ("mutation_specs", "work_results", "work_items"):
            connection.executemany(f"DELETE FROM {table} WHERE job_id = ?", [(job,) for job in outside])  # noqa: S608 - fixed names
    return len(outside)


def skip_non_mutants(session: Path, module: Path) -> int:
    annotations, signatures = signature_spans(module.read_text())

    def inside(pos, start, end):
        return start <= pos < end

    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.work_items:
            for mutation in item.mutations:
                pos = tuple(mutation.start_pos)
                in_annotation = any(inside(pos, s, e) for s, e in annotations)
                in_signature = any(
                    inside(pos, s, e) and not any(inside(pos, ds, de) for ds, de in defaults)
                    for s, e, defaults in signatures
                )
                if in_annotation or (in_signature and "BinaryOperator" in mutation.operator_name):
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
                    skipped += 1
                    break
    return skipped


def line_of(module: Path, row: int) -> str:
    return module.read_text().splitlines()[row - 1].strip()


def explained(name: str, mutation, line: str, known: list[dict]) -> dict | None:
    """The entry of mutation/equivalent.toml for this survivor: same module (or another name of
    modules.toml for the same file: a run restricted to some functions shares the full run's
    entries), operator, source line and, when the entry names them, function and column (where on
    the line the operator starts, from 0: for one operator twice on a line)."""
    paths = {n: spec["path"] for n, spec in modules().items()}
    return next(
        (
            k
            for k in known
            if paths.get(k["module"], k["module"]) == paths.get(name, name)
            and (k["operator"], k["line"]) == (mutation.operator_name, line)
            and k.get("function", mutation.definition_name) == mutation.definition_name
            and k.get("column", mutation.start_pos[1]) == mutation.start_pos[1]
        ),
        None,
    )


def mutate(name: str, spec: dict, *, resume: bool = False) -> dict:
    work = WORK / name
    tree = work / "tree"
    work.mkdir(parents=True, exist_ok=True)
    if resume:
        check_unchanged(name, spec)
    print(f"== {name} ({spec['path']}): copying the working tree", flush=True)
    copy_tree(tree)
    command = f"{sys.executable} {PYTEST} {' '.join(spec['tests'])}"

    started = time.monotonic()
    for _ in range(5):
        baseline = run(command.split(), tree, capture_output=True, text=True)
        if baseline.returncode == 0 or PORT_TAKEN not in baseline.stdout:
            break
        time.sleep(3)
        started = time.monotonic()
    took = time.monotonic() - started
    if baseline.returncode != 0:
        sys.exit(f"{name}: the tests fail without any mutation:\n{baseline.stdout[-3000:]}{baseline.stderr[-3000:]}")
    timeout = max(60.0, 5 * took)
    print(f"   baseline passed in {took:.0f} s; timeout per mutant {timeout:.0f} s", flush=True)

    config, session = work / "cosmic-ray.toml", work / "session.sqlite"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{spec["path"]}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )
    cosmic_ray = str(Path(sys.executable).parent / "cosmic-ray")
    if not resume:
        session.unlink(missing_ok=True)
        run([cosmic_ray, "init", str(config), str(session)], tree, capture_output=True)
        shutil.copy2(tree / spec["path"], work / "module.py")
        if spec.get("functions"):
            dropped = keep_only(session, tree / spec["path"], spec["functions"])
            print(f"   {dropped} mutants outside {', '.join(spec['functions'])} left out", flush=True)
        skipped = skip_non_mutants(session, tree / spec["path"])
        print(f"   {skipped} mutants skipped (annotations, signature markers)", flush=True)
    with use_db(str(session), WorkDB.Mode.open) as db:
        total, done = db.num_work_items, db.num_results
    print(f"   {total} mutants, {total - done} to run", flush=True)

    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = list(db.pending_work_items)
    run_items(work, "tree", pending, command, timeout, session, total, started)
    return report(name, spec, session, total)


def run_items(work: Path, prefix: str, items: list, command: str, timeout: float, session: Path, total: int, started):
    """Run `items` on JOBS workers, each in its own copy of the tree (work/prefix, work/prefix1, …),
    storing each result in the session as it arrives; returns {job_id: result}."""
    trees = [work / (prefix if n == 0 else f"{prefix}{n}") for n in range(JOBS)]
    for tree in trees:
        copy_tree(tree)
    queue, results = multiprocessing.Queue(), multiprocessing.Queue()
    for item in items:
        queue.put(item)
    workers = [multiprocessing.Process(target=worker, args=(t, command, timeout, queue, results)) for t in trees]
    for _ in workers:
        queue.put(None)
    for process in workers:
        process.start()
    done, last = {}, time.monotonic()
    with use_db(str(session), WorkDB.Mode.open) as db:
        for count in range(1, len(items) + 1):
            job_id, result = results.get()
            db.set_result(job_id, result)
            done[job_id] = result
            if time.monotonic() - last >= 60 or count == len(items):
                last = time.monotonic()
                print(
                    f"   {count}/{len(items)} run ({db.num_results}/{total} done), {last - started:.0f} s", flush=True
                )
    for process in workers:
        process.join()
    return done


# A test with a fixed port (the SMTP sink, the Slack receiver) fails when another worker, or
# another checkout's test run, holds that port at the same moment: that is no kill.
PORT_TAKEN = "Address already in use"


def worker(tree: Path, command: str, timeout: float, queue, results) -> None:
    """Take mutants off the queue until None, each applied to (and restored in) this worker's tree.
    A run that failed only because a fixed port was taken is run again (up to 5 times)."""
    os.chdir(tree)
    os.environ.pop("DATABASE_URL", None)
    while (item := queue.get()) is not None:
        for attempt in range(5):
            # A timeout on a busy machine is no kill either: once more with three times as long.
            result = mutate_and_test(item.mutations, command, timeout * (3 if attempt else 1))
            killed = result.test_outcome == TestOutcome.KILLED
            if not killed or (PORT_TAKEN not in (result.output or "") and (attempt or result.output != "timeout")):
                break
            time.sleep(3)
        results.put((item.job_id, result))


def check_unchanged(name: str, spec: dict) -> None:
    """The last session's positions hold only for the module it was made from."""
    work = WORK / name
    if not (work / "session.sqlite").exists():
        sys.exit(f"{name}: no earlier run; run `make mutate MODULE={name}` first")
    if (work / "module.py").read_text() != (ROOT / spec["path"]).read_text():
        sys.exit(f"{name}: {spec['path']} changed since the last run; run `make mutate MODULE={name}` again")


def recheck(name: str, spec: dict) -> dict:
    """Run the survivors of the module's last session again against the current tests."""
    check_unchanged(name, spec)
    work = WORK / name
    session = work / "session.sqlite"
    command = f"{sys.executable} {PYTEST} {' '.join(spec['tests'])}"
    known, module = equivalents(), work / "module.py"
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = {item.job_id: item for item in db.work_items}
        total = len(items)
        survivors = [items[job] for job, result in db.results if result.test_outcome == TestOutcome.SURVIVED]
    # Those explained in mutation/equivalent.toml would only run the whole list again to survive.
    survivors = [
        item
        for item in survivors
        if not explained(name, item.mutations[0], line_of(module, item.mutations[0].start_pos[0]), known)
    ]
    print(f"== {name}: rechecking {len(survivors)} unexplained survivors", flush=True)
    results = run_items(work, "recheck", survivors, command, 600, session, total, time.monotonic())
    notes = []
    for item in survivors:
        result, mutation = results[item.job_id], item.mutations[0]
        failed = [line for line in (result.output or "").splitlines() if line.startswith("FAILED ")]
        verdict = result.test_outcome.value if result.test_outcome else result.worker_outcome.value
        notes.append(
            f"{spec['path']}:{mutation.start_pos[0]} {mutation.operator_name}: {verdict}"
            + (f" by {failed[0].split()[1]}" if failed else "")
        )
        print("   " + notes[-1], flush=True)
    (work / "rechecked.txt").write_text("\n".join(notes) + "\n")
    return report(name, spec, session, total)


def report(name: str, spec: dict, session: Path, total: int) -> dict:
    module = WORK / name / "module.py"
    known = equivalents()
    counts = {"killed": 0, "incompetent": 0, "skipped": 0, "equivalent": 0, "unexplained": 0}
    lines = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = {item.job_id: item for item in db.work_items}
        for job_id, result in db.results:
            item = items[job_id]
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                counts["skipped"] += 1
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                counts["incompetent"] += 1
            elif result.test_outcome != TestOutcome.SURVIVED:
                counts["killed"] += 1
            else:
                mutation = item.mutations[0]
                line = line_of(module, mutation.start_pos[0])
                reason = explained(name, mutation, line, known)
                counts["equivalent" if reason else "unexplained"] += 1
                status = f"equivalent: {reason['reason']}" if reason else "UNEXPLAINED"
                row, column = mutation.start_pos
                lines.append(
                    f"--- {spec['path']}:{row}:{column} {mutation.operator_name} ({status})\n"
                    f"    {line}\n{result.diff or ''}\n"
                )
    (WORK / name / "survivors.txt").write_text("".join(lines) or "no survivors\n")
    pending = total - sum(counts.values())
    row = {"name": name, "path": spec["path"], "mutants": total, "pending": pending, **counts}
    print(
        f"   {total} mutants: {counts['killed']} killed, {counts['incompetent']} incompetent, "
        f"{counts['skipped']} skipped, {counts['equivalent']} equivalent (explained), "
        f"{counts['unexplained']} unexplained" + (f"; {pending} NOT RUN YET (--resume)" if pending else ""),
        flush=True,
    )
    for text in lines:
        if "UNEXPLAINED" in text:
            print(text, flush=True)
    return row


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)  # noqa: S607
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout  # noqa: S607
    return head.stdout.strip() + ("+changes" if dirty.strip() else "")


def row_label(name: str, path: str) -> str:
    """The results table's first cell: the path, and the module's name when another module of
    modules.toml mutates the same file (a `functions` entry beside the whole file's)."""
    sharing = [other for other, spec in modules().items() if spec["path"] == path]
    return f"`{path}` (`{name}`)" if len(sharing) > 1 and sharing[0] != name else f"`{path}`"


def write_row(row: dict) -> None:
    """Replace (or add) the module's row in docs/mutation.md's results table."""
    label = row_label(row["name"], row["path"])
    cells = [
        label,
        date.today().isoformat(),
        commit(),
        str(row["mutants"]),
        str(row["skipped"]),
        str(row["killed"]),
        str(row["incompetent"]),
        str(row["equivalent"]),
        str(row["unexplained"]),
        str(row["pending"]),
    ]
    with open(DOC, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two modules may finish at once
        text = handle.read()
        head, rest = text.split(BEGIN, 1)
        table, tail = rest.split(END, 1)
        rows = [line for line in table.strip().splitlines() if line.startswith("|")]
        header, body = rows[:2], [line for line in rows[2:] if line.split(" | ")[0] != f"| {label}"]
        order = [row_label(name, spec["path"]) for name, spec in modules().items()]
        body.append("| " + " | ".join(cells) + " |")
        first = lambda line: line.split(" | ")[0][2:]  # noqa: E731
        body.sort(key=lambda line: order.index(first(line)) if first(line) in order else len(order))
        handle.seek(0)
        handle.write(head + BEGIN + "\n" + "\n".join(header + body) + "\n" + END + tail)
        handle.truncate()


def report_only(name: str, spec: dict) -> dict:
    check_unchanged(name, spec)
    session = WORK / name / "session.sqlite"
    with use_db(str(session), WorkDB.Mode.open) as db:
        total = db.num_work_items
    return report(name, spec, session, total)


def main(argv: list[str]) -> int:
    known = modules()
    modes = {"--recheck": recheck, "--report": report_only, "--resume": lambda n, s: mutate(n, s, resume=True)}
    chosen = [modes[a] for a in argv if a in modes]
    if len(chosen) > 1:
        sys.exit("choose one of --recheck, --resume, --report")
    action = chosen[0] if chosen else mutate
    names = [a for a in argv if a not in modes] or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown module(s) {', '.join(unknown)}; choose from: {', '.join(known)}")
    unexplained = 0
    for name in names:
        row = action(name, known[name])
        write_row(row)
        unexplained += row["unexplained"] + row["pending"]
        print(f"   survivors with their diffs: {(WORK / name / 'survivors.txt').relative_to(ROOT)}", flush=True)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
