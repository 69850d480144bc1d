"""Cold start: the function's package, loaded as Lambda loads it, against a minimal handler.

The issue's figure: the first invocation within 1.1x of a minimal handler that
imports boto3 and builds the same three clients (s3, sns, secretsmanager), in
the same run of this benchmark.

Lambda unpacks the function's zip into a read-only ``/var/task`` and starts a
fresh interpreter per container. So each variant runs here in a fresh
interpreter (``python -I -S -B``: no site-packages but the ones named, nothing
written), variants interleaved so machine noise hits all alike, the median
reported; Python's own start-up is excluded. The CPU time of the process is
the figure judged (other tenants of a shared machine inflate it less than the
wall time, which is printed too).

The package is the one ``make deploy`` uploads: Chalice's zip for stage
``dev`` (``scripts/bytecode.py``'s ``chalice_package``, the same packager and
cache as ``chalice deploy``), unpacked twice under ``.bench/coldstart/``: as
Chalice ships it (sources only, so every import compiles) and byte-compiled
as ``make deploy`` ships it (``scripts/bytecode.py``).

Variants:

- ``import boto3``: the floor of any Python function that talks to AWS,
  from precompiled site-packages (as the boto3 in Lambda's runtime is);
- ``boto3 + 3 clients``: the minimal handler, the baseline of the ratio:
  that plus s3, sns and secretsmanager clients from boto3's default session,
  with the app's client configuration (``chalicelib/adapters/aws.py``: 5 s
  connect and 30 s read timeouts, standard retries, 4 attempts in all);
- ``import app``: Chalice, the app and its modules, from the compiled package;
- ``first invocation``: ``import app`` plus what the first invocation sets up
  (``app.get_runtime().pipeline``: settings, one botocore session, the three
  clients, the adapters; pg8000 comes with the app; the Powertools logger
  and metrics), from the package as Chalice builds it and as ``make deploy``
  ships it (the figure judged).

``--experiments`` adds variants of the compiled package with one change to
chalicelib each (``EXPERIMENTS``): what a proposed change would gain (or what
a change made buys, undone), measured in the same interleaving. A change that
no longer applies (the code moved) is reported and skipped.

``--ref REF`` measures the project as committed at ``REF`` (exported with
``git archive`` under ``.bench/coldstart-src/``) instead of the working tree.

    python -m bench.coldstart [--runs 15] [--json FILE] [--plot PNG] [--experiments] [--ref REF]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "coldstart"
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
TARGET = 1.1
BASELINE = "boto3 + 3 clients"
JUDGED = "first invocation, make deploy's package"

ENV = {
    "INPUT_BUCKET": "bench-input",
    "OUTPUT_BUCKET": "bench-output",
    "BACKUP_BUCKET": "bench-backup",
    "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
    "DB_SECRET_ID": "bench/secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only
}

FIRST_INVOCATION = """
import app
runtime = app.get_runtime()  # the settings
runtime.pipeline  # one botocore session, the s3, sns and secretsmanager clients, the adapters
from chalicelib.observability import get_logger
get_logger()
from aws_lambda_powertools.metrics import EphemeralMetrics
"""

#: The minimal handler's set-up: boto3's default session, the app's client config.
CLIENTS = """
import boto3
from botocore.config import Config
config = Config(
    connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 4}
)
for name in ("s3", "sns", "secretsmanager"):
    boto3.client(name, config=config)
"""

#: Each set-up in steps, each timed after the ones before it.
STEPS = {
    "first invocation": [
        ("Chalice", "import chalice.app"),
        ("pg8000 (scramp, asn1crypto, dateutil)", "import pg8000.native"),
        ("the app and chalicelib", "import app"),
        ("botocore", "import botocore.session, botocore.config"),
        (
            "the session and the first client (s3)",
            "runtime = app.get_runtime(); runtime.clients.s3",
        ),
        (
            "the sns and secretsmanager clients",
            "runtime.clients.sns, runtime.clients.secretsmanager",
        ),
        ("the pipeline's adapters", "runtime.pipeline"),
        (
            "Powertools logger and metrics",
            "from chalicelib.observability import get_logger; get_logger()\n"
            "from aws_lambda_powertools.metrics import EphemeralMetrics",
        ),
    ],
    BASELINE: [
        ("botocore", "import botocore.session, botocore.config"),
        ("boto3 (and s3transfer)", "import boto3"),
        (
            "the session and the first client (s3)",
            "from botocore.config import Config\n"
            "config = Config(connect_timeout=5, read_timeout=30,"
            " retries={'mode': 'standard', 'total_max_attempts': 4})\n"
            "boto3.client('s3', config=config)",
        ),
        (
            "the sns and secretsmanager clients",
            "boto3.client('sns', config=config); boto3.client('secretsmanager', config=config)",
        ),
    ],
}

STEPPER = """
import sys, time
sys.path[:0] = {path!r}
_marks = [time.process_time()]
{body}
import json
print(json.dumps([b - a for a, b in zip(_marks, _marks[1:])]))
"""

TIMER = """
import sys, time
sys.path[:0] = {path!r}
_c, _t = time.process_time(), time.perf_counter()
{body}
print(time.process_time() - _c, time.perf_counter() - _t)
"""

LAZY_PG8000 = '''
def _pg8000() -> Any:
    """pg8000, imported by the first connection, not with the app (cold start)."""
    import pg8000.exceptions
    import pg8000.native

    return pg8000


def is_local_host('''

#: Proposed changes, each measured on a copy of the compiled package: name ->
#: (edits: {file: [(old, new), ...]}, every occurrence replaced; the snippet run).
EXPERIMENTS: dict[str, tuple[dict[str, list[tuple[str, str]]], str]] = {
    # database.py imports pg8000 at the top; its first use is the connection,
    # after the first network call (GetSecretValue).
    "pg8000 imported on the first connection": (
        {
            "chalicelib/adapters/database.py": [
                (
                    "import pg8000.native\n"
                    "from pg8000.exceptions import DatabaseError as PgDatabaseError\n"
                    "from pg8000.exceptions import InterfaceError as PgInterfaceError\n",
                    "",
                ),
                ("\ndef is_local_host(", LAZY_PG8000),
                ("pg8000.native.Connection(", "_pg8000().native.Connection("),
                ("PgDatabaseError", "_pg8000().exceptions.DatabaseError"),
                ("PgInterfaceError", "_pg8000().exceptions.InterfaceError"),
            ]
        },
        FIRST_INVOCATION,
    ),
    # chalicelib/adapters/botoloader.py taken out: botocore's own Loader, which
    # lists its ~445 service directories (twice) only to reject an unknown name.
    "botocore's own loader (lists every service)": (
        {
            "chalicelib/adapters/aws.py": [
                ('    session.register_component("data_loader", loader)\n', ""),
            ]
        },
        FIRST_INVOCATION,
    ),
    # The three clients built on three threads from the one session.
    "clients built on three threads": (
        {},
        FIRST_INVOCATION.replace(
            "runtime.pipeline",
            "from concurrent.futures import ThreadPoolExecutor\n"
            "clients = runtime.clients\n"
            "clients.session\n"
            "with ThreadPoolExecutor(3) as pool:\n"
            "    list(pool.map(lambda n: getattr(clients, n), ('s3', 'sns', 'secretsmanager')))\n"
            "runtime.pipeline",
            1,
        ),
    ),
}


def project_at(ref: str) -> Path:
    """The project's files at git ``ref``, exported under ``.bench/`` (Chalice's cache kept)."""
    out = ROOT / ".bench" / "coldstart-src"
    if out.exists():
        for child in out.iterdir():
            if child.name != ".chalice":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def build_packages(project: Path = ROOT) -> tuple[Path, Path]:
    """Unpack the stage's package: as Chalice builds it, and byte-compiled."""
    scripts = str(ROOT / "scripts")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {scripts!r}); import bytecode, pathlib; "
            f"print(bytecode.chalice_package('dev', pathlib.Path({str(project)!r})))",
        ],
        cwd=project,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"building the package failed:\n{out.stdout}{out.stderr}")
    package = Path(out.stdout.strip().splitlines()[-1])
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    plain, compiled = WORK / "chalice", WORK / "compiled"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(plain, [n for n in zf.namelist() if not n.endswith(".pyc")])
    copy = WORK / "package.zip"
    shutil.copyfile(package, copy)
    bytecode = _bytecode()
    print(f"package {package.name}: {bytecode.compile_zip(copy)}")
    with zipfile.ZipFile(copy) as zf:
        zf.extractall(compiled)
    return plain, compiled


def _bytecode() -> ModuleType:
    sys.path.insert(0, str(ROOT / "scripts"))
    import bytecode

    return bytecode


def build_experiment(compiled: Path, name: str) -> Path | None:
    """A copy of the compiled package with experiment ``name``'s edits, recompiled."""
    edits = EXPERIMENTS[name][0]
    if not edits:
        return compiled
    bytecode = _bytecode()
    out = WORK / "experiments" / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    shutil.copytree(compiled, out)
    for relative, changes in edits.items():
        source = (out / relative).read_text()
        for old, new in changes:
            if old not in source:
                print(f"experiment {name!r} skipped: {relative} no longer has {old!r}")
                shutil.rmtree(out)
                return None
            source = source.replace(old, new)
        (out / relative).write_text(source)
        pyc = bytecode.checked_hash_pyc(source.encode(), f"/var/task/{relative}")
        if pyc is None:
            sys.exit(f"experiment {name!r}: {relative} does not compile")
        (out / bytecode.pyc_name(relative)).write_bytes(pyc)
    return out


def variants(plain: Path, compiled: Path) -> dict[str, tuple[list[str], str]]:
    site = [sysconfig.get_paths()["purelib"]]
    return {
        "import boto3": (site, "import boto3"),
        BASELINE: (site, CLIENTS),
        "import app (compiled package)": ([str(compiled)], "import app"),
        "first invocation, Chalice's package": ([str(plain)], FIRST_INVOCATION),
        JUDGED: ([str(compiled)], FIRST_INVOCATION),
    }


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(ENV)
    return env


def measure(path: list[str], body: str) -> tuple[float, float]:
    """CPU and wall seconds of ``body`` in a fresh interpreter."""
    out = subprocess.run(
        [BASE_PYTHON, "-I", "-S", "-B", "-c", TIMER.format(path=path, body=body)],
        cwd=WORK,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"a variant failed:\n{body}\n{out.stderr}")
    cpu, wall = out.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def run(runs: int, cases: dict[str, tuple[list[str], str]]) -> dict[str, dict[str, float]]:
    """Median CPU and wall time of each case."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for path, body in cases.values():  # warm the file cache once
        measure(path, body)
    for _ in range(runs):
        for name, (path, body) in cases.items():
            samples[name].append(measure(path, body))
    return {
        name: {
            "cpu": statistics.median(cpu for cpu, _ in values),
            "wall": statistics.median(wall for _, wall in values),
        }
        for name, values in samples.items()
    }


def breakdown(path: list[str], steps: list[tuple[str, str]], runs: int) -> dict[str, float]:
    """CPU seconds of each step (the least of ``runs``)."""
    body = "\n".join(f"{code}\n_marks.append(time.process_time())" for _, code in steps)
    best = [float("inf")] * len(steps)
    for _ in range(runs):
        out = subprocess.run(
            [BASE_PYTHON, "-I", "-S", "-B", "-c", STEPPER.format(path=path, body=body)],
            cwd=WORK,
            env=_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        for i, seconds in enumerate(json.loads(out.stdout.strip().splitlines()[-1])):
            best[i] = min(best[i], seconds)
    return {name: seconds for (name, _), seconds in zip(steps, best, strict=True)}


def plot(medians: dict[str, dict[str, float]], out: Path) -> None:
    """Horizontal bars of CPU ms per variant, the minimal handler x 1.1 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(medians)[::-1]
    values = [medians[name]["cpu"] * 1000 for name in names]
    base = medians[BASELINE]["cpu"] * 1000
    colours = [
        "#1b9e77" if n == JUDGED else "#7570b3" if n == BASELINE else "#999999" for n in names
    ]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(names) + 1.3))
    ax.barh(names, values, color=colours)
    row = names.index(BASELINE)
    limit = base * TARGET
    for i, v in enumerate(values):  # the baseline's label starts after its 1.1x mark
        x = max(v, limit) if i == row else v
        ax.text(x + base * 0.01, i, f"{v:.0f} ms  {v / base:.2f}x", fontsize=8, va="center")
    ax.plot([limit, limit], [row - 0.45, row + 0.45], color="black", linewidth=1.5)
    ax.axvline(limit, linestyle="--", color="black", linewidth=0.6, alpha=0.6)
    ax.text(limit, len(names) - 0.45, f" {TARGET}x {BASELINE}", fontsize=8, va="bottom")
    ax.set_ylim(-0.6, len(names) - 0.1)
    ax.set_xlabel("CPU ms in a fresh interpreter (median)")
    ax.set_xlim(0, max(values) * 1.25)
    ax.set_title("Cold start: the first invocation's set-up against a minimal handler", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the medians here")
    parser.add_argument("--plot", type=Path, help="also draw them into this PNG")
    parser.add_argument(
        "--experiments", action="store_true", help="also measure the proposed chalicelib changes"
    )
    parser.add_argument(
        "--ref",
        help="measure the project as committed at this git ref (default: the working tree)",
    )
    args = parser.parse_args(argv)
    plain, compiled = build_packages(project_at(args.ref) if args.ref else ROOT)
    cases = variants(plain, compiled)
    if args.experiments:
        for name in EXPERIMENTS:
            path = build_experiment(compiled, name)
            if path is not None:
                cases[f"experiment: {name}"] = ([str(path)], EXPERIMENTS[name][1])
    medians = run(args.runs, cases)
    base = medians[BASELINE]
    print(f"cold start, median of {args.runs} fresh interpreters per variant")
    print(f"{'variant':<56} {'CPU ms':>8} {'ratio':>6} {'wall ms':>8} {'ratio':>6}")
    for name, m in medians.items():
        print(
            f"{name:<56} {m['cpu'] * 1000:>8.1f} {m['cpu'] / base['cpu']:>6.2f}"
            f" {m['wall'] * 1000:>8.1f} {m['wall'] / base['wall']:>6.2f}"
        )
    print(f"(ratios: / {BASELINE})")
    first = medians[JUDGED]
    ratio = first["cpu"] / base["cpu"]
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(
        f"{verdict}: {JUDGED} is {ratio:.2f}x {BASELINE} (CPU; target <= {TARGET}x;"
        f" wall {first['wall'] / base['wall']:.2f}x)"
    )
    site = [sysconfig.get_paths()["purelib"]]
    steps = {
        "first invocation": breakdown([str(compiled)], STEPS["first invocation"], args.runs),
        BASELINE: breakdown(site, STEPS[BASELINE], args.runs),
    }
    for what, figures in steps.items():
        print(f"{what} step by step (CPU ms, least of the runs)")
        for name, seconds in figures.items():
            print(f"  {name:<54} {seconds * 1000:>8.1f}")
        print(f"  {'sum':<54} {sum(figures.values()) * 1000:>8.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"medians": medians, "ratio": ratio, "target": TARGET, "steps": steps}
        args.json.write_text(json.dumps(result, indent=2))
    if args.plot:
        plot(
            {k: v for k, v in medians.items() if not k.startswith("experiment: ")},
            args.plot,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
