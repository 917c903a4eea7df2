"""A real Redis server for the shared-state tests: Debian's ``redis-server``
(7.0 on Debian 12; Valkey's ``valkey-server`` is used where it is installed
instead), installed with apt-get when missing and the tests run as root, and
started on a free port with no persistence. A server that cannot be had is
a failure, never a skip."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import trustme

START_TIMEOUT_S = 10.0
INSTALL_TIMEOUT_S = 600


class RedisUnavailable(RuntimeError):
    pass


def binary() -> str:
    found = shutil.which("valkey-server") or shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RedisUnavailable("redis-server is not installed, and this is no root shell with apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
                    ["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode == 0 and shutil.which("redis-server") and command[1] == "install":
            return shutil.which("redis-server")  # type: ignore[return-value]
    raise RedisUnavailable(f"apt-get could not install redis-server: {done.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def certificates(folder: Path) -> Path:
    """A certificate authority of its own (trustme), and a server certificate
    it signed for 127.0.0.1, in ``folder``: ca.crt, server.crt, server.key."""
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    authority.cert_pem.write_to_path(str(folder / "ca.crt"))
    issued.cert_chain_pems[0].write_to_path(str(folder / "server.crt"))
    issued.private_key_pem.write_to_path(str(folder / "server.key"))
    return folder


@dataclass
class RedisServer:
    password: str | None = None
    port: int = field(default_factory=free_port)
    tls: Path | None = None  # a folder of certificates (certificates()): TLS only, on ``port``
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls / 'ca.crt'}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        argv = [binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            argv += ["--requirepass", self.password]
        if self.tls:
            argv += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls / "server.crt"),
                     "--tls-key-file", str(self.tls / "server.key"), "--tls-ca-cert-file", str(self.tls / "ca.crt"),
                     "--tls-auth-clients", "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(f"redis-server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RedisUnavailable("redis-server did not start listening")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
