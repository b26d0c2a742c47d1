"""Run a pod's `exec` command for real, inside a bubblewrap sandbox.

The simulated cluster has no container runtime, but `kubectl exec` must still run
something real, so every exec is a host process jailed by bubblewrap (`bwrap`).
There is no fallback: without a working bwrap, exec fails with SandboxUnavailable.

Filesystem seen by the command (the container's "image" is the host's system files):

    /                   empty tmpfs, remounted read-only once the mounts below exist
    /usr                host /usr, read-only
    /bin /sbin /lib*    as on the host: symlinks into /usr (merged /usr) or read-only binds
    /etc                read-only: a few harmless host files (passwd, group, ld.so.cache,
                        alternatives, ...; never shadow or keys) plus a generated
                        hostname and a Kubernetes-style hosts file
    /proc /dev          fresh procfs for the private pid namespace, minimal /dev
    /run                per-exec tmpfs, writable, discarded after the exec
    /data /home /mnt /opt /root /srv /tmp /var
                        read-write binds of same-named directories in
                        ContainerSandbox.root_dir: the container's private state, kept
                        between execs of the same container

Writing anywhere else fails with EROFS. The private directories are bound at fixed
top-level mount points of a fresh tmpfs, so bwrap (which sets up mounts with host
privileges) never walks a path the sandboxed code could have planted symlinks in.

Isolation: new user, pid, net (only `lo`), ipc, uts and cgroup namespaces; uid 0 inside
(the calling user outside) with every capability dropped and no_new_privs; hostname
set to the pod's; only the pod's environment and no inherited descriptors;
`--die-with-parent` so nothing outlives the server. Limits: RLIMIT_CPU and RLIMIT_AS
applied by a tiny launcher shell inside the sandbox right before it execs the command,
a wall-clock limit enforced here by killing bwrap and the sandbox's pid 1 (the whole
pid namespace dies with it), and a cap on the output read back.

Before each exec a first, trivial sandbox run resolves the command the way execvp()
would, so that "not found" is told apart from a command that exits non-zero. bwrap is
started with subprocess.Popen and then watched, signalled and read through pidfds and
non-blocking descriptors on the running loop, which behaves the same on asyncio and on
uvloop (uvicorn's loop), whose own subprocess support differs in ways that matter here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

# Top-level directories backed by the container's private, persistent root_dir.
PRIVATE_DIRECTORIES: Final = ("data", "home", "mnt", "opt", "root", "srv", "tmp", "var")

# Host /etc entries that common tools need and that reveal nothing sensitive.
_HOST_ETC_ENTRIES: Final = (
    "alternatives",
    "bash.bashrc",
    "debian_version",
    "group",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "magic",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "profile",
    "protocols",
    "services",
    "shells",
    "terminfo",
    "timezone",
)
# Host top-level entries that are symlinks into /usr on merged-/usr systems.
_HOST_SYSTEM_ENTRIES: Final = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Top-level names with their own mounts, so a working directory cannot be created there.
_MOUNTED_TOP_LEVEL: Final = frozenset({"usr", "etc", "proc", "dev", "run", *_HOST_SYSTEM_ENTRIES})

# What container images conventionally set; used when the pod's environment has no PATH.
DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HOSTS_FILE: Final = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)
_INITIAL_TERMINAL_SIZE: Final = (80, 24)
_READ_CHUNK_BYTES: Final = 32 * 1024
_PROBE_TIMEOUT_SECONDS: Final = 10.0
_MAX_HOSTNAME_LENGTH: Final = 64  # HOST_NAME_MAX; sethostname() refuses longer names

# Runs inside the sandbox before the real command, with no user code involved, and
# prints one verdict word. It mirrors execvp()'s PATH search so that a command that
# cannot start is reported the way a container runtime reports it, instead of being
# confused with a command that ran and exited non-zero.
_PROBE_SCRIPT: Final = """
workdir=$1 program=$2
mkdir -p -- "$workdir" 2>/dev/null
cd -- "$workdir" 2>/dev/null || { echo nodir; exit 0; }
case $program in
  */*)
    if [ ! -e "$program" ]; then echo missing
    elif [ -d "$program" ] || [ ! -x "$program" ]; then echo denied
    else echo found
    fi
    exit 0 ;;
esac
IFS=:
set -f
for dir in $PATH; do
  candidate=${dir:-.}/$program
  if [ -f "$candidate" ] && [ -x "$candidate" ]; then echo found; exit 0; fi
done
echo notfound
"""


class SandboxError(RuntimeError):
    """The sandbox could not be set up (a host-side failure, not the command's)."""


class SandboxUnavailable(SandboxError):
    """bubblewrap is missing or unusable here; exec is refused rather than run unjailed."""


class CommandStartError(RuntimeError):
    """The command could not be started in the container (not found, not executable).

    str() is the message runc prints in this case; exit_code is the shell convention
    (127 not found, 126 found but not runnable).
    """

    def __init__(self, argv: Sequence[str], detail: str, exit_code: int) -> None:
        super().__init__(
            f"OCI runtime exec failed: exec failed: unable to start container process: {detail}: unknown"
        )
        self.argv = tuple(argv)
        self.detail = detail
        self.exit_code = exit_code


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 10
    memory_bytes: int = 512 * 2**20
    wall_seconds: float = 30.0
    max_output_bytes: int = 4 * 2**20

    def __post_init__(self) -> None:
        if self.cpu_seconds < 1 or self.memory_bytes < 2**20:
            raise ValueError("cpu_seconds must be >= 1 and memory_bytes >= 1 MiB")
        if self.wall_seconds <= 0 or self.max_output_bytes < 0:
            raise ValueError("wall_seconds must be positive and max_output_bytes non-negative")


@dataclass(frozen=True)
class ContainerSandbox:
    """One container's sandbox: its private state directory and process identity."""

    root_dir: Path
    hostname: str
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = "/"

    def __post_init__(self) -> None:
        if not 0 < len(self.hostname) <= _MAX_HOSTNAME_LENGTH or "\0" in self.hostname:
            raise ValueError(f"hostname must be 1..{_MAX_HOSTNAME_LENGTH} characters: {self.hostname!r}")
        for name, value in self.env.items():
            if not name or "=" in name or "\0" in name or "\0" in value:
                raise ValueError(f"invalid environment variable {name!r}")
        if not self.working_dir.startswith("/") or "\0" in self.working_dir:
            raise ValueError(f"working_dir must be an absolute path: {self.working_dir!r}")

    @property
    def normalized_working_dir(self) -> str:
        # normpath keeps a leading "//" (POSIX allows it a special meaning); we do not.
        return "/" + os.path.normpath(self.working_dir).lstrip("/")


@functools.cache
def bubblewrap_available() -> str | None:
    """None if bwrap works here, otherwise why not. Probed once per process."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed or not on PATH"
    with tempfile.TemporaryDirectory(prefix="pilothouse-bwrap-check-") as scratch:
        sandbox = ContainerSandbox(root_dir=Path(scratch), hostname="self-check")
        _prepare_private_root(sandbox.root_dir)
        command = ["/bin/sh", "-c", "echo ok"]
        environment = _container_environment(sandbox, tty=False)
        with _BwrapInvocation(bwrap, sandbox, environment, command) as invocation:
            try:
                completed = subprocess.run(
                    invocation.argv,
                    capture_output=True,
                    pass_fds=invocation.pass_fds,
                    env={},
                    timeout=_PROBE_TIMEOUT_SECONDS,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                return f"bubblewrap self-check failed: {error}"
    if completed.returncode != 0 or completed.stdout != b"ok\n":
        detail = completed.stderr.decode(errors="replace").strip() or f"exit code {completed.returncode}"
        return f"bubblewrap self-check failed: {detail}"
    return None


async def start_process(
    sandbox: ContainerSandbox, argv: list[str], *, tty: bool, limits: SandboxLimits
) -> SandboxProcess:
    """Start argv inside the container's sandbox.

    Raises SandboxUnavailable without a working bwrap, CommandStartError when the
    command cannot be started, SandboxError when the sandbox cannot be set up.
    """
    if not argv:
        raise ValueError("an exec needs at least one argument")
    reason = await asyncio.to_thread(bubblewrap_available)
    if reason is not None:
        raise SandboxUnavailable(reason)
    bwrap = shutil.which("bwrap")
    if bwrap is None:  # removed after the probe
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed or not on PATH")
    _prepare_private_root(sandbox.root_dir)
    environment = _container_environment(sandbox, tty=tty)
    await _check_command_can_start(bwrap, sandbox, environment, argv)
    launcher = _launcher_script(limits, tty=tty, keep_pwd="PWD" in environment)
    command = ["/bin/sh", "-c", launcher, "sh", *argv]
    working_dir = sandbox.normalized_working_dir
    with _BwrapInvocation(bwrap, sandbox, environment, command, working_dir=working_dir) as invocation:
        running, streams = await (_start_with_terminal if tty else _start_with_pipes)(invocation)
    return SandboxProcess(running, argv, limits, streams)


class SandboxProcess:
    """A running sandboxed command.

    Without a tty, stdout and stderr are separate pipes. With a tty, the command's
    stdin, stdout and stderr are one pseudo-terminal: everything arrives through
    read_stdout() and read_stderr() returns b"" at once. Read the output to its end
    before wait(), which discards what is still unread. Always wait(): it releases
    the descriptors.
    """

    def __init__(
        self, running: _RunningSandbox, argv: Sequence[str], limits: SandboxLimits, streams: _Streams
    ) -> None:
        self._running = running
        self._argv = tuple(argv)
        self._limits = limits
        self._streams = streams
        self._stdin_closed = False
        self._output_bytes = 0
        self._termination_reason: str | None = None
        self._watchdog = asyncio.create_task(self._enforce_wall_clock_limit())

    @property
    def argv(self) -> tuple[str, ...]:
        return self._argv

    @property
    def tty(self) -> bool:
        return self._streams.stderr is None

    @property
    def pid(self) -> int:
        """The host pid of the bwrap process that owns the sandbox."""
        return self._running.pid

    @property
    def termination_reason(self) -> str | None:
        """Why we killed the command (wall-clock or output limit), None otherwise."""
        return self._termination_reason

    async def write_stdin(self, data: bytes) -> None:
        """Raises ConnectionError once the command no longer reads its stdin."""
        if self._stdin_closed:
            raise BrokenPipeError("stdin is closed")
        await self._streams.stdin.write(data)

    async def close_stdin(self) -> None:
        """End of input. A terminal cannot be half-closed: there this types ^D instead."""
        if self._stdin_closed:
            return
        self._stdin_closed = True
        if self.tty:
            with contextlib.suppress(ConnectionError):
                await self._streams.stdin.write(b"\x04")
        else:
            self._streams.stdin.close()

    async def read_stdout(self) -> bytes:
        """The next chunk of output, b"" at the end."""
        return await self._read_output(self._streams.stdout)

    async def read_stderr(self) -> bytes:
        return await self._read_output(self._streams.stderr)

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal size (no-op without one); the foreground job gets SIGWINCH."""
        terminal = self._streams.stdout.fileno()
        if self.tty and terminal is not None:
            _set_terminal_size(terminal, cols, rows)

    async def wait(self) -> int:
        """The exit code; 128 + N when the command was killed by signal N."""
        returncode = await self._running.exited()
        self._watchdog.cancel()
        for stream in self._streams:
            if stream is not None:
                stream.close()
        # A negative returncode means bwrap itself was killed (by us); report it the way
        # bwrap reports a command killed by a signal.
        return returncode if returncode >= 0 else 128 - returncode

    def kill(self) -> None:
        """Kill the command and everything it started (idempotent)."""
        self._running.kill()

    def _kill_for(self, reason: str) -> None:
        if self._running.returncode is None and self._termination_reason is None:
            self._termination_reason = reason
        self.kill()

    async def _read_output(self, stream: _AsyncFile | None) -> bytes:
        if stream is None:
            return b""
        chunk = await stream.read(_READ_CHUNK_BYTES)
        allowed = self._limits.max_output_bytes - self._output_bytes
        if len(chunk) > allowed:
            chunk = chunk[: max(allowed, 0)]
            self._kill_for(f"output limit of {self._limits.max_output_bytes} bytes exceeded")
        self._output_bytes += len(chunk)
        return chunk

    async def _enforce_wall_clock_limit(self) -> None:
        try:
            await asyncio.wait_for(self._running.exited(), self._limits.wall_seconds)
        except TimeoutError:
            self._kill_for(f"wall-clock limit of {self._limits.wall_seconds:g}s exceeded")


class _AsyncFile:
    """Our end of a pipe, or a pty master, read and written through the running loop.

    Plain os.read/os.write plus the loop's reader/writer callbacks, which every event
    loop implements alike; uvloop's pipe transports, for one, lose a pty's output.
    """

    def __init__(self, descriptor: int) -> None:
        os.set_blocking(descriptor, False)
        self._descriptor: int | None = descriptor
        self._busy = 0  # reads and writes under way: closing waits for them
        self._close_requested = False

    def fileno(self) -> int | None:
        return self._descriptor

    async def read(self, size: int) -> bytes:
        """Up to size bytes; b"" at the end of the data."""
        with self._in_use() as descriptor:
            while descriptor is not None:
                try:
                    return os.read(descriptor, size)
                except BlockingIOError:
                    await _until_ready(descriptor, writable=False)
                except OSError as error:
                    if error.errno != errno.EIO:
                        raise
                    return b""  # a pty master once the sandbox has closed its side
        return b""

    async def write(self, data: bytes) -> None:
        pending = memoryview(data)
        with self._in_use() as descriptor:
            while pending:
                if descriptor is None or self._close_requested:
                    raise BrokenPipeError("closed")
                try:
                    pending = pending[os.write(descriptor, pending) :]
                except BlockingIOError:
                    await _until_ready(descriptor, writable=True)
                except OSError as error:
                    if error.errno != errno.EIO:
                        raise  # EPIPE arrives as BrokenPipeError already
                    raise BrokenPipeError("the sandbox has closed its terminal") from error

    def close(self) -> None:
        """Close now, or as soon as the read or write under way returns."""
        self._close_requested = True
        if self._busy == 0 and self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    @contextlib.contextmanager
    def _in_use(self) -> Iterator[int | None]:
        self._busy += 1
        try:
            yield self._descriptor
        finally:
            self._busy -= 1
            if self._close_requested:
                self.close()


async def _until_ready(descriptor: int, *, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if writable else loop.add_reader)(descriptor, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if writable else loop.remove_reader)(descriptor)


async def _read_to_end(stream: _AsyncFile) -> bytes:
    output = b""
    while chunk := await stream.read(_READ_CHUNK_BYTES):
        output += chunk
    return output


class _RunningSandbox:
    """A bwrap process, watched and signalled through pidfds, never through its pid.

    A pid may be reused once reaped; and we reap bwrap ourselves, as soon as its pidfd
    says it exited, without the event loop's child watcher (which uvloop and asyncio
    implement differently) getting involved.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._bwrap: int | None = os.pidfd_open(process.pid)  # our child, not yet reaped
        self.init: int | None = None  # pidfd of the sandbox's pid 1, once bwrap reports it
        self._exit = asyncio.ensure_future(self._reap())

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def exited(self) -> int:
        return await asyncio.shield(self._exit)

    def kill(self) -> None:
        # bwrap first, so that it reports being killed rather than its sandbox failing.
        # It only makes the sandbox die with it once the sandbox is set up; killing the
        # sandbox's pid 1 as well takes the whole pid namespace down at any stage.
        for pidfd in (self._bwrap, self.init):
            if pidfd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    async def _reap(self) -> int:
        assert self._bwrap is not None
        await _until_ready(self._bwrap, writable=False)  # a pidfd is readable once exited
        returncode = self._process.wait()  # immediate now
        # bwrap outlives its sandbox, so nothing is left to signal.
        for pidfd in (self._bwrap, self.init):
            if pidfd is not None:
                os.close(pidfd)
        self._bwrap = self.init = None
        return returncode


class _Streams(NamedTuple):
    stdin: _AsyncFile
    stdout: _AsyncFile
    stderr: _AsyncFile | None  # None with a terminal, which carries both outputs


async def _start_with_pipes(invocation: _BwrapInvocation) -> tuple[_RunningSandbox, _Streams]:
    stdin, to_stdin = os.pipe()
    from_stdout, stdout = os.pipe()
    from_stderr, stderr = os.pipe()
    streams = _Streams(_AsyncFile(to_stdin), _AsyncFile(from_stdout), _AsyncFile(from_stderr))
    try:
        running = await invocation.start(stdin=stdin, stdout=stdout, stderr=stderr)
    except BaseException:
        for stream in streams:
            if stream is not None:
                stream.close()
        raise
    finally:
        # Only the sandbox may hold its ends: reading ours ends when it exits.
        for descriptor in (stdin, stdout, stderr):
            os.close(descriptor)
    return running, streams


async def _start_with_terminal(invocation: _BwrapInvocation) -> tuple[_RunningSandbox, _Streams]:
    master, slave = os.openpty()
    terminal = _AsyncFile(master)
    try:
        _set_terminal_size(master, *_INITIAL_TERMINAL_SIZE)
        running = await invocation.start(stdin=slave, stdout=slave, stderr=slave)
    except BaseException:
        terminal.close()
        raise
    finally:
        os.close(slave)
    return running, _Streams(stdin=terminal, stdout=terminal, stderr=None)


async def _check_command_can_start(
    bwrap: str, sandbox: ContainerSandbox, environment: Mapping[str, str], argv: Sequence[str]
) -> None:
    """Resolve argv[0] inside the sandbox (creating the working directory if needed)."""
    working_dir = sandbox.normalized_working_dir
    command = ["/bin/sh", "-c", _PROBE_SCRIPT, "sh", working_dir, argv[0]]
    with _BwrapInvocation(bwrap, sandbox, environment, command) as invocation:
        probe, streams = await _start_with_pipes(invocation)
    assert streams.stderr is not None
    streams.stdin.close()
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_SECONDS):
            output, errors = await asyncio.gather(_read_to_end(streams.stdout), _read_to_end(streams.stderr))
            returncode = await probe.exited()
    except TimeoutError:
        probe.kill()
        await probe.exited()
        raise SandboxError("the sandbox did not start in time") from None
    finally:
        streams.stdout.close()
        streams.stderr.close()
    verdict = output.decode(errors="replace").strip()
    program = argv[0]
    if returncode != 0 or verdict not in {"found", "missing", "denied", "notfound", "nodir"}:
        detail = errors.decode(errors="replace").strip() or f"exit code {returncode}"
        raise SandboxError(f"could not set up the sandbox: {detail}")
    # The details are worded as runc words them, since that is what users search for.
    if verdict == "notfound":
        raise CommandStartError(argv, f'exec: "{program}": executable file not found in $PATH', 127)
    if verdict == "missing":
        raise CommandStartError(argv, f'exec: "{program}": stat {program}: no such file or directory', 127)
    if verdict == "denied":
        raise CommandStartError(argv, f'exec: "{program}": permission denied', 126)
    if verdict == "nodir":
        detail = f'chdir to cwd ("{working_dir}") set in config.json failed: no such file or directory'
        raise CommandStartError(argv, detail, 126)


def _launcher_script(limits: SandboxLimits, *, tty: bool, keep_pwd: bool) -> str:
    """The shell that applies the limits and then becomes the command via exec."""
    cpu_seconds = _within_hard_limit(resource.RLIMIT_CPU, limits.cpu_seconds)
    memory_kib = _within_hard_limit(resource.RLIMIT_AS, limits.memory_bytes) // 1024
    lines = [f"ulimit -t {cpu_seconds} || exit 125", f"ulimit -v {memory_kib} || exit 125"]
    if not keep_pwd:
        lines.append("unset PWD")  # the shell exports PWD; a container runtime would not
    if tty:
        # The session bwrap --new-session created belongs to bwrap's reaper (pid 1), so
        # the command starts its own with the pty as controlling terminal, as under runc:
        # that is what makes ^C and window-size changes reach it.
        lines.append('[ -x /usr/bin/setsid ] && exec /usr/bin/setsid --ctty -- "$@"')
    lines.append('exec "$@"')
    return "\n".join(lines)


def _within_hard_limit(limit: int, requested: int) -> int:
    """Without capabilities, a limit cannot be raised above what we inherited."""
    _, hard = resource.getrlimit(limit)
    return requested if hard == resource.RLIM_INFINITY else min(requested, hard)


def _container_environment(sandbox: ContainerSandbox, *, tty: bool) -> dict[str, str]:
    """The pod's environment plus what a container runtime adds when missing."""
    environment = dict(sandbox.env)
    environment.setdefault("PATH", DEFAULT_PATH)
    environment.setdefault("HOSTNAME", sandbox.hostname)
    environment.setdefault("HOME", "/root")
    if tty:
        environment.setdefault("TERM", "xterm")
    return environment


def _prepare_private_root(root_dir: Path) -> None:
    root_dir.mkdir(parents=True, exist_ok=True)
    for name in PRIVATE_DIRECTORIES:
        directory = root_dir / name
        if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
            raise SandboxError(f"{directory} must be a directory")
        if not directory.exists():
            directory.mkdir()
            # Same permissions as in a container image.
            directory.chmod({"tmp": 0o1777, "root": 0o700}.get(name, 0o755))


class _BwrapInvocation:
    """A bwrap command line and the descriptors it reads options and files from.

    The options (which include the environment) go through a memfd via --args, so the
    pod's secrets never appear in the host's world-readable /proc/*/cmdline.
    """

    def __init__(
        self,
        bwrap: str,
        sandbox: ContainerSandbox,
        environment: Mapping[str, str],
        command: Sequence[str],
        *,
        working_dir: str | None = None,
    ) -> None:
        self._for_bwrap: list[int] = []  # descriptors bwrap inherits; ours are closed after spawning
        self._info_reader: int | None = None
        try:
            hostname_fd = self._give(_memfd(f"{sandbox.hostname}\n".encode()))
            hosts_fd = self._give(_memfd(_HOSTS_FILE.encode()))
            self._info_reader, info_writer = os.pipe()
            self._give(info_writer)
            options = _bwrap_options(sandbox, environment, working_dir, hostname_fd, hosts_fd, info_writer)
            args_fd = self._give(_memfd(b"".join(os.fsencode(option) + b"\0" for option in options)))
        except BaseException:
            self.close()
            raise
        self.argv = [bwrap, "--args", str(args_fd), "--", *command]
        self.pass_fds = tuple(self._for_bwrap)

    def __enter__(self) -> _BwrapInvocation:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def start(self, *, stdin: int, stdout: int, stderr: int) -> _RunningSandbox:
        """Start bwrap with these descriptors as its standard streams."""
        try:
            running = _RunningSandbox(self._popen(stdin, stdout, stderr))
        finally:
            self._close_bwrap_descriptors()  # so that a failing bwrap ends the info report
        try:
            running.init = await self._open_sandbox_init(running.pid)
        except BaseException:
            running.kill()
            raise
        return running

    def _popen(self, stdin: int, stdout: int, stderr: int) -> subprocess.Popen[bytes]:
        # Popen itself, not the event loop's subprocess support: close_fds is honoured
        # (uvloop passes every inheritable descriptor of the server on to the sandbox).
        return subprocess.Popen(
            self.argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            pass_fds=self.pass_fds,
            close_fds=True,
            env={},
            start_new_session=True,  # out of reach of signals aimed at the server's group
        )

    async def _open_sandbox_init(self, bwrap_pid: int) -> int | None:
        """A pidfd for the sandbox's pid 1, whose host pid bwrap reports on --info-fd.

        None if bwrap reported nothing (it failed, and its exit status says why) or
        the sandbox is already gone.
        """
        try:
            child_pid = int(json.loads(await self._read_info())["child-pid"])
        except (ValueError, KeyError, TypeError):
            return None
        try:
            pidfd = os.pidfd_open(child_pid)
        except ProcessLookupError:
            return None
        # bwrap reaps its child only after reporting it, so the pid cannot have been
        # reused unless the sandbox already ended: then it is no longer bwrap's child.
        if _parent_pid(child_pid) != bwrap_pid:
            os.close(pidfd)
            return None
        return pidfd

    async def _read_info(self) -> bytes:
        assert self._info_reader is not None
        info = _AsyncFile(self._info_reader)
        self._info_reader = None
        report = b""
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT_SECONDS):
                # Not until EOF: the sandbox's processes may hold the pipe open. Closing
                # our end before bwrap wrote would kill bwrap with SIGPIPE mid-setup.
                while not report.rstrip().endswith(b"}") and (chunk := await info.read(4096)):
                    report += chunk
        except TimeoutError:
            pass
        finally:
            info.close()
        return report

    def close(self) -> None:
        self._close_bwrap_descriptors()
        if self._info_reader is not None:
            os.close(self._info_reader)
            self._info_reader = None

    def _give(self, descriptor: int) -> int:
        self._for_bwrap.append(descriptor)
        return descriptor

    def _close_bwrap_descriptors(self) -> None:
        while self._for_bwrap:
            os.close(self._for_bwrap.pop())


def _bwrap_options(
    sandbox: ContainerSandbox,
    environment: Mapping[str, str],
    working_dir: str | None,
    hostname_fd: int,
    hosts_fd: int,
    info_fd: int,
) -> list[str]:
    options = [
        *("--info-fd", str(info_fd)),
        # --unshare-user maps our uid to root inside; --cap-drop ALL matters because
        # bwrap otherwise keeps every capability for uid 0 in the new user namespace.
        *("--unshare-all", "--unshare-user", "--disable-userns", "--uid", "0", "--gid", "0"),
        *("--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", sandbox.hostname),
        *("--tmpfs", "/", "--ro-bind", "/usr", "/usr"),
        *_host_system_entries(),
        "--dir",
        "/etc",
    ]
    for entry in _HOST_ETC_ENTRIES:
        options += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    options += [
        "--ro-bind-data",
        str(hostname_fd),
        "/etc/hostname",
        "--ro-bind-data",
        str(hosts_fd),
        "/etc/hosts",
    ]
    options += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/run"]
    for name in PRIVATE_DIRECTORIES:
        options += ["--bind", str(sandbox.root_dir / name), f"/{name}"]
    top_level = sandbox.normalized_working_dir.split("/")[1]
    if top_level and top_level not in PRIVATE_DIRECTORIES and top_level not in _MOUNTED_TOP_LEVEL:
        # A working directory elsewhere on the read-only root exists as an empty directory.
        options += ["--dir", sandbox.normalized_working_dir]
    options += ["--remount-ro", "/", "--clearenv"]
    for name, value in environment.items():
        options += ["--setenv", name, value]
    if working_dir is not None:
        options += ["--chdir", working_dir]
    return options


@functools.cache
def _host_system_entries() -> tuple[str, ...]:
    """Mirror /bin, /lib, ... as the host has them: symlinks stay symlinks."""
    options: list[str] = []
    for name in _HOST_SYSTEM_ENTRIES:
        host_path = Path("/") / name
        if host_path.is_symlink():
            options += ["--symlink", os.readlink(host_path), f"/{name}"]
        elif host_path.is_dir():
            options += ["--ro-bind", str(host_path), f"/{name}"]
    return tuple(options)


def _memfd(content: bytes) -> int:
    descriptor = os.memfd_create("pilothouse-bwrap")
    try:
        os.write(descriptor, content)
        os.lseek(descriptor, 0, os.SEEK_SET)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def _set_terminal_size(terminal: int, cols: int, rows: int) -> None:
    cols, rows = (min(max(value, 0), 0xFFFF) for value in (cols, rows))
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # The command name in parentheses may contain anything, so parse after it.
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
