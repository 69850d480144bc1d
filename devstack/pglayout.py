"""Where PostgreSQL's binaries and data live when devstack runs as root.

initdb and postgres refuse to run as root, so as root they run as the unprivileged
account ``pgserver`` (the one the pgserver package uses; created if missing). That
account must reach the binaries and the data directory, which may be inside a
directory only root can enter (a clone in /root, pytest's /tmp/pytest-of-root):

* binaries it cannot reach (pgserver's, in a virtualenv there) are hard-linked, or
  copied, once into ``/var/tmp/csv-pipeline-pg/pgserver-<hash of postgres>/``, made by
  root (0755) through a temporary directory and a rename, and shared by later runs;
* a data directory it cannot reach stays root's, with a ``pgdata`` link to a directory
  the account owns, ``/var/tmp/csv-pipeline-pg/data/<random>``, and a ``.origin`` file
  next to that naming the requested directory. One whose requested directory is gone
  (deleted, or no longer linking to it) is deleted at the next redirect, in the
  background.

Nothing is changed in directories that exist already (no ``chmod o+x`` on /root), and
when not root none of this applies: the data directory is used where it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

ACCOUNT = "pgserver"
HOME = Path("/var/tmp/csv-pipeline-pg")
LINK = "pgdata"


def service_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as when we are root (created if missing), else None."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(ACCOUNT)
    subprocess.run(  # a concurrent useradd may win the race: look again below
        ["useradd", "--system", "--user-group", "--shell", "/usr/sbin/nologin", ACCOUNT],
        capture_output=True,
        check=False,
    )
    try:
        return pwd.getpwnam(ACCOUNT)
    except KeyError:
        raise PermissionError(f"as root, PostgreSQL needs the account {ACCOUNT!r}") from None


def reachable(path: Path, account: pwd.struct_passwd) -> bool:
    """True if ``account`` may pass through ``path`` and every directory above it."""
    for part in (path, *path.parents):
        info = part.stat()
        owner, group = info.st_uid == account.pw_uid, info.st_gid == account.pw_gid
        bit = stat.S_IXUSR if owner else stat.S_IXGRP if group else stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def _home(*parts: str) -> Path:
    """A directory under :data:`HOME`, made 0755 by root and checked to be only root's."""
    for directory in (HOME, HOME.joinpath(*parts)):
        directory.mkdir(mode=0o755, exist_ok=True)
        info = directory.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            raise PermissionError(f"{directory} must be a directory that only root can write")
    return HOME.joinpath(*parts)


def binaries(bin_dir: Path, account: pwd.struct_passwd) -> Path:
    """``bin_dir``, or a copy of it that ``account`` can reach (pgserver's only: its
    binaries find their libraries in ``../../../pgserver.libs``, copied along)."""
    if reachable(bin_dir, account):
        return bin_dir
    site = bin_dir.parents[2]
    if bin_dir != site / "pgserver/pginstall/bin":
        raise PermissionError(f"{account.pw_name!r} cannot reach the binaries in {bin_dir}")
    digest = hashlib.sha256((bin_dir / "postgres").read_bytes()).hexdigest()[:16]
    target = _home() / f"pgserver-{digest}"
    if not (target / "pgserver/pginstall/bin/pg_ctl").exists():
        shutil.rmtree(target, ignore_errors=True)  # incomplete: a tmp cleaner took files
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=HOME))
        for part in ("pgserver/pginstall", "pgserver.libs"):
            shutil.copytree(site / part, staging / part, symlinks=True, copy_function=_link)
        staging.chmod(0o755)
        try:
            staging.rename(target)  # atomic: other runs see all of it or nothing
        except OSError:  # another run made it first
            shutil.rmtree(staging)
    return target / "pgserver/pginstall/bin"


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


def pgdata(data_dir: Path) -> Path:
    """The directory PostgreSQL runs on: ``data_dir``, or where its ``pgdata`` link points."""
    link = data_dir / LINK
    return link.readlink() if link.is_symlink() else data_dir


def place_data(data_dir: Path, account: pwd.struct_passwd | None) -> Path:
    """Make ``data_dir``, owned by ``account`` or redirected; return :func:`pgdata`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if account is None or (data_dir / LINK).is_symlink() or (data_dir / "PG_VERSION").exists():
        return pgdata(data_dir)
    if reachable(data_dir.parent, account):
        os.chown(data_dir, account.pw_uid, account.pw_gid)
        data_dir.chmod(0o700)
        return data_dir
    _collect_orphans()
    target = Path(tempfile.mkdtemp(dir=_home("data")))
    os.chown(target, account.pw_uid, account.pw_gid)
    (data_dir / LINK).symlink_to(target)
    target.with_suffix(".origin").write_text(str(data_dir))  # after the link: see below
    return target


def _collect_orphans() -> None:
    """Delete redirected data directories whose requested directory no longer links to
    them (nor runs a server), in the background: dozens of them take seconds. Other
    runs may collect at the same time."""
    orphans = []
    for origin in _home("data").glob("*.origin"):
        target = origin.with_suffix("")
        with contextlib.suppress(FileNotFoundError):
            if pgdata(Path(origin.read_text())) == target or postmaster_pid(target):
                continue
        origin.unlink(missing_ok=True)
        orphans.append(str(target))
    if orphans:  # sh returns at once; rm goes on, even after this process
        command = ["/bin/sh", "-c", 'rm -rf -- "$@" >/dev/null 2>&1 &', "rm", *orphans]
        subprocess.run(command, check=False)


def postmaster_pid(data: Path) -> int | None:
    """The pid in ``postmaster.pid`` if that process runs (on Linux: and is postgres)."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        if Path("/proc/self").exists():  # Linux: not a pid reused after a crash
            return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres" else None
        os.kill(pid, 0)
    except PermissionError:  # it runs, as another account
        return pid
    except OSError:
        return None
    return pid
