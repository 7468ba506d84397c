"""Atomic outputs: every file the package writes goes through ``prunebench.io`` (temp file in the
same folder + ``os.replace``), and an interrupted writer never leaves a half file behind.

The source scan is an AST walk, not a regex: a writing call (``np.save``, ``torch.save``,
``savefig``, ``to_csv``, ``Path.write_text``, ``open(..., "w")``, ...) is allowed only inside
``prunebench/io.py`` or when its target is the temp path bound by an enclosing
``with ... atomic_path(...) as tmp:`` block.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from prunebench import io

SRC = Path(__file__).resolve().parents[1] / "src" / "prunebench"
ALLOWED_FILES = {"io.py"}

#: calls that write their first argument (or, for the Path methods, their receiver)
WRITE_METHODS = {"save", "savez", "savez_compressed", "savetxt", "tofile", "savefig", "to_csv", "to_parquet",
                 "to_json", "to_pickle", "to_html", "to_latex", "to_excel", "to_feather", "write_text",
                 "write_bytes", "imwrite", "dump"}
RECEIVER_WRITES = {"write_text", "write_bytes"}
#: calls that write only when their mode says so
MODE_CALLS = ("open", "opener", "ZipFile", "TarFile", "open_memmap", "memmap")
#: receivers whose methods are the atomic writers themselves (``from prunebench import io``)
SAFE_RECEIVERS = {"io"}

#: direct writes found by the audit that the lead still has to route through prunebench.io
#: (see docs/reference/reliability.md, "Writes that bypass prunebench.io"); remove an entry when it is fixed.
PENDING: set[tuple[str, str, str]] = set()


def _mode_of(call: ast.Call) -> str | None:
    """The file mode of an ``open``-like call, when it is a literal (positional 2nd arg or ``mode=``)."""
    for kw in call.keywords:
        if kw.arg == "mode" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    first = call.args[0] if call.args else None
    if (isinstance(call.func, ast.Attribute) and call.func.attr == "open" and isinstance(first, ast.Constant)
            and isinstance(first.value, str) and re.fullmatch(r"[rwxabt+]+", first.value)):
        return first.value  # Path.open("w")
    if len(call.args) >= 2 and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str):
        return call.args[1].value
    return None


def _writes(mode: str | None) -> bool:
    return mode is not None and any(c in mode for c in "wax+")


def _name(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover
        return type(node).__name__


def _target(call: ast.Call) -> ast.AST | None:
    f = call.func
    if isinstance(f, ast.Attribute) and (f.attr in RECEIVER_WRITES or f.attr == "open" and call.args
                                         and isinstance(call.args[0], ast.Constant)):
        return f.value
    if isinstance(f, ast.Attribute) and f.attr == "dump":
        return call.args[1]
    if isinstance(f, ast.Name) and f.id.startswith("shutil") or _name(f).startswith("shutil."):
        return call.args[1] if len(call.args) > 1 else None
    return call.args[0] if call.args else None


def direct_writes(tree: ast.AST, relpath: str) -> list[tuple[str, str, str, int]]:
    """``(file, enclosing function, call, line)`` for every write not aimed at an ``atomic_path`` temp."""
    found: list[tuple[str, str, str, int]] = []

    def visit(node: ast.AST, func: str, safe: frozenset[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        if isinstance(node, (ast.With, ast.AsyncWith)):
            bound = set()
            for item in node.items:
                ce = item.context_expr
                if not (isinstance(ce, ast.Call) and isinstance(item.optional_vars, ast.Name)):
                    continue
                fname = _name(ce.func).split(".")[-1]
                opens_safe = fname.endswith("open") and ce.args and isinstance(ce.args[0], ast.Name) \
                    and ce.args[0].id in safe | bound  # a handle on the temp path is safe too
                if fname == "atomic_path" or opens_safe:
                    bound.add(item.optional_vars.id)
            safe = safe | bound
        if isinstance(node, ast.Call):
            f = node.func
            attr = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            receiver = _name(f.value) if isinstance(f, ast.Attribute) else ""
            label = None
            if receiver in SAFE_RECEIVERS:
                pass
            elif attr in WRITE_METHODS and _name(f) not in ("self.save", "save"):
                if attr != "dump" or len(node.args) >= 2:  # json.dump(obj, fh) / pickle.dump(obj, fh)
                    label = _name(f)
            elif (attr.endswith("open") or attr in MODE_CALLS) and _writes(_mode_of(node)):
                label = _name(f) if attr in ("open_memmap", "memmap") else f"{_name(f)}(mode={_mode_of(node)!r})"
            elif _name(f).startswith("shutil.") and attr in ("copy", "copy2", "copyfile", "copytree", "move"):
                label = _name(f)
            if label is not None:
                tgt = _target(node)
                if not (isinstance(tgt, ast.Name) and tgt.id in safe):
                    found.append((relpath, func, label, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, func, safe)

    visit(tree, "<module>", frozenset())
    return found


def scan_package(root: Path = SRC) -> list[tuple[str, str, str, int]]:
    out = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if rel in ALLOWED_FILES:
            continue
        out += direct_writes(ast.parse(p.read_text(encoding="utf-8")), rel)
    return out


# --- the scanner itself ----------------------------------------------------------------------

SNIPPET = '''
import numpy as np
from prunebench import io

def good(path, arr, fig):
    with io.atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr)
        fig.savefig(tmp, format="png")
        tmp.write_text("x")
        with open(tmp, "w") as fh:
            json.dump({}, fh)
        with tmp.open("wb") as fh:
            fh.write(b"x")
    io.write_text(path, "ok")     # the atomic writers themselves
    with open(path) as fh:        # reading is fine
        fh.read()

def bad(path, arr, fig, df):
    np.save(path, arr)
    fig.savefig(path)
    df.to_csv(path)
    path.write_text("x")
    with open(path, "w") as fh:
        fh.write("x")
    with gzip.open(path, mode="ab") as fh:
        pickle.dump(arr, fh)
    shutil.copyfile(path, path + ".bak")
    with path.open("w") as fh:
        fh.write("x")
    with io.atomic_path(path) as tmp:
        np.savez(path, a=arr)     # inside the block but aimed at the final path
'''


def test_scanner_flags_direct_writes_and_allows_atomic_ones():
    found = direct_writes(ast.parse(textwrap.dedent(SNIPPET)), "x.py")
    assert [(f, c) for _, f, c, _ in found] == [
        ("bad", "np.save"), ("bad", "fig.savefig"), ("bad", "df.to_csv"), ("bad", "path.write_text"),
        ("bad", "open(mode='w')"), ("bad", "gzip.open(mode='ab')"), ("bad", "pickle.dump"),
        ("bad", "shutil.copyfile"), ("bad", "path.open(mode='w')"), ("bad", "np.savez")]


# --- the package -----------------------------------------------------------------------------

def test_no_new_direct_writes_in_the_package():
    found = {(f, fn, call) for f, fn, call, _ in scan_package()}
    new = sorted(found - PENDING)
    assert not new, ("writes that bypass prunebench.io (use io.save_npy/save_npz/write_json/write_text/"
                     f"torch_save/write_dataframe or `with io.atomic_path(path) as tmp`): {new}")


def test_pending_list_is_current():
    """An entry fixed in the source must leave PENDING, so the list never hides a regression."""
    found = {(f, fn, call) for f, fn, call, _ in scan_package()}
    assert not PENDING - found, f"fixed, remove from PENDING: {sorted(PENDING - found)}"


# --- interrupted writers ---------------------------------------------------------------------

WRITER = textwrap.dedent('''
    import signal, sys, time
    import numpy as np
    from prunebench import io
    # Ctrl-C as in a terminal: a shell's background job (CI started with `&`) inherits SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    target = sys.argv[1]
    with io.atomic_path(target, suffix=".npy") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"half of a new file")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)
''')


def _interrupt_writer(tmp_path: Path, sig: int) -> tuple[Path, bytes]:
    target = tmp_path / "subset.npy"
    io.save_npy(target, np.arange(5))
    old = target.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        assert list(tmp_path.glob(f"{io.TMP_PREFIX}*")), "the writer should be mid-write in a temp file"
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
    return target, old


def test_writer_interrupted_mid_write_keeps_old_file_and_cleans_temp(tmp_path):
    """Ctrl-C (SIGINT → KeyboardInterrupt) mid-write: old file byte-identical, no temp file left."""
    target, old = _interrupt_writer(tmp_path, signal.SIGINT)
    assert target.read_bytes() == old
    np.testing.assert_array_equal(np.load(target), np.arange(5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subset.npy"]


def test_writer_killed_mid_write_never_exposes_a_half_file(tmp_path):
    """SIGKILL cannot be caught: the old file must still be intact (a temp file may remain;
    the kill test checks that a rerun of the pipeline leaves none)."""
    target, old = _interrupt_writer(tmp_path, signal.SIGKILL)
    assert target.read_bytes() == old
    for p in tmp_path.glob(f"{io.TMP_PREFIX}*"):
        assert p.read_bytes() == b"half of a new file"


def test_failed_write_of_a_new_file_leaves_nothing(tmp_path):
    target = tmp_path / "new.json"
    with pytest.raises(TypeError):
        io.write_json(target, {"a": object()})
    assert not list(tmp_path.iterdir())
    t0 = time.perf_counter()
    io.write_json(target, {"a": 1})
    assert io.read_json(target) == {"a": 1} and time.perf_counter() - t0 < 5


def test_outputs_get_the_umask_permissions_like_open(tmp_path):
    old = os.umask(0o022)
    try:
        (tmp_path / "plain.txt").write_text("x")  # what open() would have made
        io.write_text(tmp_path / "atomic.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == 0o644


def test_writer_terminated_mid_write_cleans_its_temp_file(tmp_path):
    """SIGTERM (SLURM's time limit, scancel, Snakemake cancelling a job) runs the cleanup like Ctrl-C
    once the CLI has installed its handler: old file intact, no temp file."""
    target = tmp_path / "subset.npy"
    io.save_npy(target, np.arange(5))
    old = target.read_bytes()
    code = "from prunebench.cli import _exit_cleanly_on_signals; _exit_cleanly_on_signals()\n" + WRITER
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subset.npy"]


def test_sweep_removes_only_the_temp_files_of_dead_writers(tmp_path):
    """A SIGKILLed writer's temp file is swept; a live writer's, another host's and a stranger's are not."""
    target = tmp_path / "a" / "subset.npy"
    io.save_npy(target, np.arange(5))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        live = list(target.parent.glob(f"{io.TMP_PREFIX}*"))
        assert len(live) == 1 and f"{io.TMP_PREFIX}{proc.pid}@" in live[0].name
        other_host = tmp_path / f"{io.TMP_PREFIX}1@elsewhere.example~abc.npy"
        other_host.write_bytes(b"x")
        assert io.sweep_stale_temps(tmp_path) == []  # the writer is alive
        proc.kill()
        proc.wait(timeout=30)
        assert io.sweep_stale_temps(tmp_path, tmp_path / "missing") == live
        assert not live[0].exists() and other_host.exists() and target.exists()
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
