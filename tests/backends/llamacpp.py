"""llama.cpp's llama-server, built from source once per machine, and the tiny
models it serves in the tests and the bench.

The source is PyPI's sdist of llama-cpp-python, which vendors llama.cpp (with
its git metadata, so the build knows its commit). ``pip download`` fetches it,
through whatever index pip is configured with, so a machine that reaches only
the package registries can build it. The build (about 6-8 minutes on 2 cores)
goes to tests/backends/cache/ (gitignored), keyed by the version; a lock file
lets concurrent test runs share one build. Only the server binary (statically
linked, so it can move) and the two chat templates the models use are kept.

Run alone, it builds what is missing and prints how to start a server:

    python -m tests.backends.llamacpp
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.backends import tiny_model

LLAMA_CPP_PYTHON = "0.3.36"
COMMIT = "0c1e57098"  # the llama.cpp commit that sdist vendors
CACHE = Path(__file__).parent / "cache"
HOME = CACHE / f"llama.cpp-{COMMIT}"
SERVER = HOME / "bin" / "llama-server"
TEMPLATES = HOME / "templates"
MODELS = CACHE / "models"
# The llama.cpp source tree's own templates: Qwen 2.5's (Hermes tool calls) and QwQ's, which opens <think>.
CHAT_TEMPLATES = {"tiny": "Qwen-Qwen2.5-7B-Instruct.jinja", "tiny-think": "Qwen-QwQ-32B.jinja"}
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DGGML_NATIVE=OFF", "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",  # (else: a download)
    "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF",
)
STAMP = HOME / ".built"
BUILD_TIMEOUT_S = 40 * 60
START_TIMEOUT_S = 60
_LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


class BuildError(RuntimeError):
    """The server could not be built, or a model not made; the message says what happened."""


def stamp() -> str:
    return f"llama-cpp-python {LLAMA_CPP_PYTHON}; {' '.join(CMAKE_FLAGS)}"


def ensure_server() -> Path:
    """The llama-server binary, built first if this machine has none."""
    if _built():
        return SERVER
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE / ".build.lock"):
        if not _built():  # (another run may have built it meanwhile)
            _build()
    return SERVER


def _built() -> bool:
    return SERVER.exists() and STAMP.exists() and STAMP.read_text() == stamp()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        source = _fetch_source(Path(work))
        build = Path(work) / "build"
        _run(["cmake", "-S", str(source), "-B", str(build), "-G", "Ninja", *CMAKE_FLAGS], "configuring llama.cpp")
        _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 2)],
             "building llama-server")
        shutil.rmtree(HOME, ignore_errors=True)
        (HOME / "bin").mkdir(parents=True)
        TEMPLATES.mkdir()
        shutil.copy2(build / "bin" / "llama-server", SERVER)
        for name in CHAT_TEMPLATES.values():
            shutil.copy2(source / "models" / "templates" / name, TEMPLATES / name)
    STAMP.write_text(stamp())
    print(f"built {SERVER} in {time.monotonic() - started:.0f} s", file=sys.stderr)


def _fetch_source(work: Path) -> Path:
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--dest", str(work),
          f"llama-cpp-python=={LLAMA_CPP_PYTHON}"], "downloading the llama-cpp-python sdist")
    archive = next(work.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="tar")
    archive.unlink()
    source = work / f"llama_cpp_python-{LLAMA_CPP_PYTHON}" / "vendor" / "llama.cpp"
    if not (source / "CMakeLists.txt").exists():
        raise BuildError(f"the sdist has no vendor/llama.cpp at {source}")
    return source


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        raise BuildError(f"{what} failed ({' '.join(command)} exited {result.returncode}):\n"
                         f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


# ---- models --------------------------------------------------------------------------------------


def ensure_model(name: str) -> Path:
    """A tiny model (tiny_model.py) with the chat template ``name`` stands for,
    made once for each version of the generator and the template."""
    ensure_server()
    template = (TEMPLATES / CHAT_TEMPLATES[name]).read_text()
    digest = hashlib.sha256(Path(tiny_model.__file__).read_bytes() + template.encode()).hexdigest()[:12]
    path = MODELS / f"{name}-{digest}.gguf"
    if not path.exists():
        MODELS.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        tiny_model.write(partial, template)
        partial.rename(path)
    return path


# ---- a running server -------------------------------------------------------------------------


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    model: str  # the name it reports (--alias)
    log: Path

    @property
    def url(self) -> str:
        """The base URL, as the proxy's target."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(model: str = "tiny", *, context: int = 4096, seed: int = 42, extra: tuple[str, ...] = (),
          log_dir: Path | None = None) -> RunningServer:
    """Start llama-server on a free port with a tiny model; returns once it listens."""
    server, path = ensure_server(), ensure_model(model)
    log = Path(tempfile.mkstemp(prefix=f"llama-server-{model}-", suffix=".log", dir=log_dir)[1])
    command = [str(server), "-m", str(path), "--host", "127.0.0.1", "--port", "0", "--jinja", "-c", str(context),
               "-np", "1", "-t", "2", "--no-webui", "--seed", str(seed), "--alias", model, *extra]
    output = open(log, "wb")
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    output.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_bytes())
        if found:
            return RunningServer(process, int(found[1]), model, log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise BuildError(f"llama-server did not start ({' '.join(command)}):\n{log.read_text()[-3000:]}")


def main() -> None:
    for name in CHAT_TEMPLATES:
        print(f"{name}: {ensure_model(name)}")
    print(f"start one with: {SERVER} -m MODEL --host 127.0.0.1 --port 8081 --jinja -c 65536 -np 1 --no-webui"
          " [--reasoning-format deepseek for tiny-think]")


if __name__ == "__main__":
    main()
