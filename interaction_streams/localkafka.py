"""A real single-node Apache Kafka broker (KRaft) for tests, demos and development.

The broker is assembled from Apache Kafka's jars on Maven Central
(``deploy/local-kafka/pom.xml``), cached outside the repository, and run as a
child JVM that acts as both broker and controller on the loopback interface.

Library use::

    with LocalKafka(LocalKafkaConfig()) as kafka:
        print(kafka.bootstrap_servers)

CLI use goes through :func:`add_kafka_commands` (``kafka start|stop|status``),
which runs the broker detached so that it outlives the command.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

__all__ = [
    "DEFAULT_POM",
    "LocalKafka",
    "LocalKafkaConfig",
    "LocalKafkaError",
    "add_kafka_commands",
    "default_cache_root",
    "default_data_dir",
    "default_pom",
    "default_state_file",
    "ensure_jars",
    "find_java",
    "kafka_version",
    "start_detached",
    "status_detached",
    "stop_detached",
]

MIN_JAVA = 17
HOST = "127.0.0.1"
POM_ENV = "INTERACTION_STREAMS_KAFKA_POM"
CACHE_ENV = "INTERACTION_STREAMS_CACHE"
USE_EXISTING_HINT = "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker"
STATE_NAME = "local-kafka.json"
MARKER_NAME = ".complete"
_REPO_POM = Path(__file__).resolve().parent.parent / "deploy" / "local-kafka" / "pom.xml"
_MAVEN_NS = "{http://maven.apache.org/POM/4.0.0}"
_TAIL_LINES = 15

SINGLE_NODE_DEFAULTS: dict[str, str] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "delete.topic.enable": "true",
    "log.retention.hours": "168",
    # After a SIGKILL the restarted controller keeps the dead incarnation's
    # registration until its session expires (9 s by default); keep that short.
    "broker.heartbeat.interval.ms": "1000",
    "broker.session.timeout.ms": "4000",
}


class LocalKafkaError(RuntimeError):
    """A problem starting, stopping or provisioning the local broker."""


# --------------------------------------------------------------------------- paths


def default_pom() -> Path:
    """The pom listing Kafka's jars: ``$INTERACTION_STREAMS_KAFKA_POM`` or the repo's."""
    override = os.environ.get(POM_ENV)
    return Path(override).expanduser() if override else _REPO_POM


DEFAULT_POM = default_pom()


def default_cache_root() -> Path:
    """Where jars and CLI state live (outside the repository)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "interaction-streams"


def default_state_file(cache_root: Path | None = None) -> Path:
    """State file of the CLI's detached broker."""
    return (cache_root or default_cache_root()) / "local-kafka" / "state.json"


def default_data_dir(cache_root: Path | None = None) -> Path:
    """Data directory of the CLI's detached broker (kept across restarts)."""
    return (cache_root or default_cache_root()) / "local-kafka" / "data"


def _log4j_config(pom: Path) -> Path:
    """The Log4j 2 configuration that sits beside the pom."""
    for name in ("log4j2.properties", "log4j2.yaml", "log4j2.xml"):
        candidate = pom.parent / name
        if candidate.is_file():
            return candidate
    raise LocalKafkaError(f"no log4j2.properties next to {pom}; the checkout looks incomplete")


# --------------------------------------------------------------------------- java / maven


def find_java() -> Path:
    """The ``java`` to run (``$JAVA_HOME/bin/java`` or PATH); checks it is 17 or newer."""
    java = _locate_java()
    major = _java_major(java)
    if major < MIN_JAVA:
        raise LocalKafkaError(
            f"{java} is Java {major}, but the local Kafka broker needs Java {MIN_JAVA} or newer: "
            f"install a JDK {MIN_JAVA}+ and point JAVA_HOME at it, {USE_EXISTING_HINT}"
        )
    return java


def _locate_java() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home).expanduser() / "bin" / "java"
        if not os.access(java, os.X_OK):
            raise LocalKafkaError(
                f"JAVA_HOME is {java_home!r} but {java} is not an executable: "
                f"point JAVA_HOME at a JDK {MIN_JAVA}+ or unset it to use `java` from PATH, "
                f"{USE_EXISTING_HINT}"
            )
        return java
    found = shutil.which("java")
    if found is None:
        raise LocalKafkaError(
            f"Java {MIN_JAVA}+ is needed to run the local Kafka broker, but no `java` is on PATH "
            f"and JAVA_HOME is not set: install one (e.g. `apt-get install "
            f"openjdk-{MIN_JAVA}-jre-headless`) or set JAVA_HOME, {USE_EXISTING_HINT}"
        )
    return Path(found)


def _java_major(java: Path) -> int:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalKafkaError(f"could not run `{java} -version`: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        raise LocalKafkaError(
            f"could not tell the Java version from `{java} -version`: "
            f"{_tail_text(out.stderr + out.stdout)}"
        )
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _find_mvn() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise LocalKafkaError(
            "Maven (`mvn`) is needed once to download Apache Kafka's jars from Maven Central, "
            "but it is not on PATH: install Maven (e.g. `apt-get install maven`) "
            + USE_EXISTING_HINT
        )
    return found


# --------------------------------------------------------------------------- jars


def kafka_version(pom: Path | None = None) -> str:
    """The ``kafka.version`` property of the pom."""
    path = pom or default_pom()
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise LocalKafkaError(f"cannot read the Kafka pom {path}: {exc}") from exc
    node = root.find(f"{_MAVEN_NS}properties/{_MAVEN_NS}kafka.version")
    if node is None:
        node = root.find("properties/kafka.version")
    if node is None or not (node.text or "").strip():
        raise LocalKafkaError(f"{path} has no <kafka.version> property")
    return (node.text or "").strip()


def ensure_jars(pom: Path | None = None, cache_root: Path | None = None) -> Path:
    """Directory with the broker's jars, downloading them with Maven on first use."""
    pom = pom or default_pom()
    cache_root = cache_root or default_cache_root()
    libs = cache_root / f"kafka-{kafka_version(pom)}" / "libs"
    digest = _pom_digest(pom)
    if _jars_complete(libs, digest):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=libs.parent))
    staging.chmod(0o755)
    try:
        _run_maven(pom, staging)
        (staging / MARKER_NAME).write_text(digest + "\n")
        _swap_into_place(staging, libs, digest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            libs.parent.rmdir()  # only succeeds if the download left nothing
    return libs


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _jars_complete(libs: Path, digest: str) -> bool:
    marker = libs / MARKER_NAME
    return marker.is_file() and marker.read_text().strip() == digest


def _run_maven(pom: Path, out_dir: Path) -> None:
    cmd = [
        _find_mvn(),
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out_dir}",
        "-DincludeScope=runtime",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise LocalKafkaError(f"could not run Maven: {exc}") from exc
    if done.returncode != 0 or not any(out_dir.glob("kafka_*.jar")):
        raise LocalKafkaError(
            f"Maven could not fetch Kafka's jars (exit {done.returncode}) using {pom}:\n"
            f"{_tail_text(done.stdout + done.stderr)}"
        )


def _swap_into_place(staging: Path, libs: Path, digest: str) -> None:
    """Atomically rename ``staging`` to ``libs``, replacing a stale copy."""
    if libs.exists():
        if _jars_complete(libs, digest):
            return  # another process won the race
        stale = libs.with_name(f".stale-{uuid.uuid4().hex}")
        libs.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        staging.rename(libs)
    except OSError:
        if not _jars_complete(libs, digest):
            raise


# --------------------------------------------------------------------------- small helpers


def _tail_text(text: str, lines: int = _TAIL_LINES) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(no output)"


def _tail_file(path: Path, lines: int = _TAIL_LINES, offset: int = 0) -> str:
    """Last lines of a log (from byte ``offset`` on) without Java stack frames."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    frames = re.compile(r"^\s+(at |\.\.\. \d+ more)")
    kept = [line for line in text.splitlines() if line.strip() and not frames.match(line)]
    return "\n".join(kept[-lines:])


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def _new_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _heap_options(heap: str) -> list[str]:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", heap.strip())
    if match is None:
        raise LocalKafkaError(f"heap must look like 512m or 1g, not {heap!r}")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    small = int(match.group(1)) * scale < 256 << 20
    return [f"-Xms{heap}" if small else "-Xms256m", f"-Xmx{heap}"]


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, bool]]) -> bool:
    """``asyncio.run`` that also works when called from inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="localkafka") as pool:
        return pool.submit(asyncio.run, factory()).result()


async def _answers_metadata(bootstrap: str, timeout: float) -> bool:
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        client_id="localkafka-probe",
        request_timeout_ms=max(int(timeout * 1000), 500),
    )
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
        return bool(metadata.brokers())
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def _broker_answers(port: int, timeout: float = 5.0) -> bool:
    """Whether a broker on ``port`` answers a Metadata request."""
    if not _port_open(port):
        return False
    return _run_coroutine(lambda: _answers_metadata(f"{HOST}:{port}", timeout))


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie child of ours is reaped and counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    if stat.rsplit(")", 1)[-1].split()[0] != "Z":
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return False


def _is_kafka_pid(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _pid_alive(pid)
    return b"kafka.Kafka" in cmdline


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the broker's process group (it leads its own session)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM a broker that is not our child, then SIGKILL after ``timeout`` seconds."""
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, 10.0)


def _terminate_child(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM our child broker, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(10.0)


# Brokers owned by this interpreter (not detached): stopped at interpreter exit.
_OWNED: dict[int, subprocess.Popen[bytes]] = {}
# Detached brokers started here: referenced so their Popen is never finalised early.
_DETACHED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _stop_owned_brokers() -> None:
    for proc in list(_OWNED.values()):
        _terminate_child(proc, 5.0)


# --------------------------------------------------------------------------- the broker


@dataclass(frozen=True)
class LocalKafkaConfig:
    """How to run the local broker; ports 0 mean "pick a free loopback port"."""

    port: int = 0
    controller_port: int = 0
    data_dir: Path | None = None
    broker_settings: Mapping[str, str] = field(default_factory=dict)
    startup_timeout: float = 60.0
    heap: str = "1g"
    pom: Path | None = None
    cache_root: Path | None = None


@dataclass
class _Layout:
    """Ports and cluster id of a data dir, recorded in ``local-kafka.json``."""

    port: int
    controller_port: int
    cluster_id: str


class LocalKafka:
    """One combined broker+controller KRaft node on 127.0.0.1, run as a child JVM."""

    def __init__(self, config: LocalKafkaConfig | None = None) -> None:
        self.config = config or LocalKafkaConfig()
        self._proc: subprocess.Popen[bytes] | None = None
        self._data_dir: Path | None = None
        self._temp_dir = False
        self._port = 0
        self._startup_seconds = 0.0
        self._version = ""
        self._log_offset = 0

    # ---- public API

    def start(self) -> str:
        """Start the broker and wait until it answers; returns ``127.0.0.1:<port>``."""
        if self.is_running():
            return self.bootstrap_servers
        java = find_java()
        pom = self.config.pom or default_pom()
        libs = ensure_jars(pom, self.config.cache_root)
        self._version = kafka_version(pom)
        data_dir = self._prepare_data_dir()
        layout = self._layout(data_dir)
        self._port = layout.port
        began = time.monotonic()
        self._write_properties(data_dir, layout)
        jvm = self._jvm_command(java, libs, _log4j_config(pom), data_dir)
        self._format_if_needed(jvm, data_dir, layout)
        self._launch(jvm, data_dir)
        try:
            self._wait_ready(began)
        except BaseException:
            self.kill()
            raise
        self._startup_seconds = time.monotonic() - began
        return self.bootstrap_servers

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down cleanly (SIGTERM, SIGKILL after ``timeout``); drops a temp data dir."""
        if self._proc is not None:
            _terminate_child(self._proc, timeout)
        self._forget()
        if self._temp_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
            self._temp_dir = False

    def kill(self) -> None:
        """SIGKILL the broker now (data dir kept, for fault tests)."""
        if self._proc is not None and self._proc.poll() is None:
            _signal_group(self._proc.pid, signal.SIGKILL)
            self._proc.wait(10.0)
        self._forget()

    def is_running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<port>`` (valid once started)."""
        if not self._port:
            raise LocalKafkaError("the local Kafka broker has not been started")
        return f"{HOST}:{self._port}"

    @property
    def port(self) -> int:
        """The client (PLAINTEXT) port."""
        return self._port

    @property
    def startup_seconds(self) -> float:
        """Seconds from launching the JVM (storage format included) to the first answer."""
        return self._startup_seconds

    @property
    def pid(self) -> int | None:
        """PID of the broker JVM, or None if it is not running."""
        return self._proc.pid if self.is_running() and self._proc is not None else None

    @property
    def data_dir(self) -> Path | None:
        """Data directory (logs in ``logs/``, Kafka data in ``kraft/``)."""
        return self._data_dir

    @property
    def version(self) -> str:
        """Kafka version of the running broker."""
        return self._version

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def detach(self) -> None:
        """Let the broker outlive this interpreter (no stop at exit)."""
        self._forget()
        if self._proc is not None:
            _DETACHED.append(self._proc)
        self._proc = None

    # ---- start-up steps

    def _prepare_data_dir(self) -> Path:
        if self.config.data_dir is not None:
            self._data_dir, self._temp_dir = self.config.data_dir.expanduser().resolve(), False
        elif self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="local-kafka-"))
            self._temp_dir = True
        (self._data_dir / "logs").mkdir(parents=True, exist_ok=True)
        return self._data_dir

    def _layout(self, data_dir: Path) -> _Layout:
        """Ports and cluster id: config, else recorded in the data dir, else fresh."""
        recorded = _read_json(data_dir / STATE_NAME)
        meta_id = _meta_cluster_id(self._log_dir(data_dir))
        cluster_id = str(meta_id or recorded.get("cluster_id") or "")
        port = self.config.port or int(recorded.get("port") or 0)
        cport = self.config.controller_port or int(recorded.get("controller_port") or 0)
        if port and not self.config.port and not _port_free(port):
            raise LocalKafkaError(
                f"port {port} recorded in {data_dir / STATE_NAME} is in use "
                "(is another broker still running on this data dir?): stop it or pick a port"
            )
        if not cport or not _port_free(cport):
            cport = next(p for p in _free_ports(2) if p != port)
        if not port:
            port = next(p for p in _free_ports(2) if p != cport)
        layout = _Layout(port, cport, cluster_id or _new_cluster_id())
        _write_json(
            data_dir / STATE_NAME,
            {**vars(layout), "kafka_version": self._version},
        )
        return layout

    def _log_dir(self, data_dir: Path) -> Path:
        """Kafka's log (data) directory: ``<data_dir>/kraft`` unless overridden."""
        configured = self.config.broker_settings.get("log.dirs", "").split(",")[0].strip()
        return Path(configured) if configured else data_dir / "kraft"

    def _write_properties(self, data_dir: Path, layout: _Layout) -> None:
        settings = {
            **SINGLE_NODE_DEFAULTS,
            "controller.quorum.voters": f"1@{HOST}:{layout.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{layout.port},CONTROLLER://{HOST}:"
            f"{layout.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{layout.port}",
            "log.dirs": str(self._log_dir(data_dir)),
            **self.config.broker_settings,
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        header = "# Written by interaction_streams.localkafka on every start; edits are lost.\n"
        (data_dir / "server.properties").write_text(header + "\n".join(lines) + "\n")

    def _jvm_command(self, java: Path, libs: Path, log4j: Path, data_dir: Path) -> list[str]:
        return [
            str(java),
            *_heap_options(self.config.heap),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={data_dir / 'logs'}",
            "-cp",
            f"{libs}/*",
        ]

    def _format_if_needed(self, jvm: list[str], data_dir: Path, layout: _Layout) -> None:
        if (self._log_dir(data_dir) / "meta.properties").is_file():
            return
        cmd = [
            *jvm,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            layout.cluster_id,
            "-c",
            str(data_dir / "server.properties"),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=data_dir)
        if done.returncode != 0:
            raise LocalKafkaError(
                f"formatting Kafka storage in {self._log_dir(data_dir)} failed "
                f"(exit {done.returncode}):\n{_tail_text(done.stdout + done.stderr)}"
            )

    def _launch(self, jvm: list[str], data_dir: Path) -> None:
        logs = data_dir / "logs"
        with contextlib.suppress(OSError):
            self._log_offset = (logs / "server.log").stat().st_size
        with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
            self._proc = subprocess.Popen(
                [*jvm, "kafka.Kafka", str(data_dir / "server.properties")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=data_dir,
                start_new_session=True,
            )
        _OWNED[self._proc.pid] = self._proc

    def _wait_ready(self, began: float) -> None:
        deadline = began + self.config.startup_timeout
        while True:
            if not self.is_running():
                raise LocalKafkaError(self._failure("exited during start-up"))
            if _broker_answers(self._port, timeout=2.0):
                return
            if time.monotonic() >= deadline:
                raise LocalKafkaError(
                    self._failure(
                        f"did not answer within {self.config.startup_timeout:g} s "
                        "(raise the start-up timeout if the machine is slow)"
                    )
                )
            time.sleep(0.2)

    def _failure(self, what: str) -> str:
        logs = (self._data_dir or Path(".")) / "logs"
        code = self._proc.poll() if self._proc is not None else None
        status = f" with exit code {code}" if code is not None else ""
        parts = [f"the local Kafka broker {what}{status}; full log: {logs / 'server.log'}"]
        for name in ("stdout.log", "stderr.log", "server.log"):
            tail = _tail_file(logs / name, offset=self._log_offset if name == "server.log" else 0)
            if tail:
                parts.append(f"--- {name} (last lines) ---\n{tail}")
                if name != "server.log":
                    break
        return "\n".join(parts)

    def _forget(self) -> None:
        if self._proc is not None:
            _OWNED.pop(self._proc.pid, None)


def _meta_cluster_id(log_dir: Path) -> str | None:
    meta = log_dir / "meta.properties"
    with contextlib.suppress(OSError):
        for line in meta.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
    return None


# --------------------------------------------------------------------------- detached (CLI)


def start_detached(config: LocalKafkaConfig, state_file: Path | None = None) -> dict[str, Any]:
    """Start a broker that outlives this process; returns (and records) its state.

    If the state file names a running broker, that one is returned with
    ``already_running`` set to True.
    """
    state_file = state_file or default_state_file(config.cache_root)
    running = _running_state(state_file)
    if running is not None:
        return {**running, "already_running": True}
    if config.data_dir is None:
        config = replace(config, data_dir=default_data_dir(config.cache_root))
    kafka = LocalKafka(config)
    kafka.start()
    kafka_pid = kafka.pid
    kafka.detach()
    state: dict[str, Any] = {
        "pid": kafka_pid,
        "bootstrap_servers": kafka.bootstrap_servers,
        "port": kafka.port,
        "data_dir": str(kafka.data_dir),
        "kafka_version": kafka.version,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "startup_seconds": round(kafka.startup_seconds, 2),
    }
    _write_json(state_file, state)
    return {**state, "already_running": False}


def _running_state(state_file: Path) -> dict[str, Any] | None:
    """State of a live broker, None if none; raises if it is alive but mute."""
    state = _read_json(state_file)
    pid = int(state.get("pid") or 0)
    if not pid or not _pid_alive(pid) or not _is_kafka_pid(pid):
        return None
    if _broker_answers(int(state.get("port") or 0)):
        return state
    raise LocalKafkaError(
        f"a Kafka broker (pid {pid}) from {state_file} is running but does not answer at "
        f"{state.get('bootstrap_servers')}: stop it with `kafka stop` first"
    )


def status_detached(state_file: Path | None = None) -> dict[str, Any] | None:
    """State of the detached broker if its process is alive and it answers, else None."""
    try:
        return _running_state(state_file or default_state_file())
    except LocalKafkaError:
        return None


def stop_detached(state_file: Path | None = None, timeout: float = 30.0) -> dict[str, Any] | None:
    """Stop the detached broker (SIGTERM, SIGKILL after ``timeout``); returns what was stopped."""
    state_file = state_file or default_state_file()
    state = _read_json(state_file)
    pid = int(state.get("pid") or 0)
    stopped = None
    if pid and _pid_alive(pid) and _is_kafka_pid(pid):
        _terminate(pid, timeout)
        stopped = state
    with contextlib.suppress(FileNotFoundError):
        state_file.unlink()
    return stopped


# --------------------------------------------------------------------------- CLI


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value.strip()


def _state_path(args: argparse.Namespace) -> Path:
    return Path(args.state_file).expanduser() if args.state_file else default_state_file()


def _cmd_start(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    config = LocalKafkaConfig(
        port=args.port or 0,
        data_dir=data_dir,
        broker_settings=dict(args.settings or []),
        startup_timeout=args.timeout,
    )
    state = start_detached(config, _state_path(args))
    if state["already_running"]:
        print(
            f"Kafka {state['kafka_version']} already running at {state['bootstrap_servers']} "
            f"(pid {state['pid']}, data: {state['data_dir']})"
        )
    else:
        print(
            f"Kafka {state['kafka_version']} ready at {state['bootstrap_servers']} in "
            f"{state['startup_seconds']:.1f} s (data: {state['data_dir']})"
        )
    print(state["bootstrap_servers"])
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    stopped = stop_detached(_state_path(args), timeout=args.timeout)
    if stopped is None:
        print("Kafka not running")
    else:
        print(f"Kafka stopped (pid {stopped['pid']}, data kept in {stopped['data_dir']})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    state = status_detached(_state_path(args))
    if state is None:
        print("not running")
        return 1
    print(
        f"Kafka {state['kafka_version']} running at {state['bootstrap_servers']} "
        f"(pid {state['pid']}, since {state['started_at']}, data: {state['data_dir']})"
    )
    print(state["bootstrap_servers"])
    return 0


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except LocalKafkaError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    run.__doc__ = handler.__doc__
    return run


def add_kafka_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kafka start|stop|status``; each sets ``func(args) -> exit code``."""
    kafka = subparsers.add_parser("kafka", help="run a local single-node Kafka broker (KRaft)")
    actions = kafka.add_subparsers(dest="kafka_command", metavar="{start,stop,status}")
    actions.required = True
    state_help = f"state file (default: {default_state_file()})"

    start = actions.add_parser("start", help="start the broker in the background")
    start.add_argument("--port", type=int, default=0, help="client port (default: recorded/free)")
    start.add_argument("--data-dir", help=f"data directory (default: {default_data_dir()})")
    start.add_argument("--state-file", help=state_help)
    start.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_setting,
        metavar="KEY=VALUE",
        help="extra server.properties setting (repeatable)",
    )
    start.add_argument("--timeout", type=float, default=60.0, help="start-up timeout, seconds")
    start.set_defaults(func=_guarded(_cmd_start))

    stop = actions.add_parser("stop", help="stop the background broker (data is kept)")
    stop.add_argument("--state-file", help=state_help)
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    stop.set_defaults(func=_guarded(_cmd_stop))

    status = actions.add_parser("status", help="exit 0 if the background broker answers")
    status.add_argument("--state-file", help=state_help)
    status.set_defaults(func=_guarded(_cmd_status))


def main(argv: list[str] | None = None) -> int:
    """``python -m interaction_streams.localkafka kafka start|stop|status``."""
    parser = argparse.ArgumentParser(prog="python -m interaction_streams.localkafka")
    add_kafka_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
