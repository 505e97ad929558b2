"""Configure, build and run an exported C project (safu.export.c_export) for one target.

Used by the tests and by `safu bench deploy`; the commands are plain CMake + ctest + QEMU:

    cmake -S OUT -B BUILD [-DCMAKE_TOOLCHAIN_FILE=OUT/toolchains/<board>.cmake] -DCMAKE_BUILD_TYPE=Release
    cmake --build BUILD -j2 && ctest --test-dir BUILD --output-on-failure

    from safu.export.c_build import TARGETS, missing_tools, build, run_program
    build(out_dir, build_dir, "m4", expected_output=host_txt)
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    name: str
    toolchain: str | None         # file under the project's toolchains/, None = native host
    tools: tuple[str, ...]        # programs that must be on PATH
    bare_metal: bool = False
    qemu_machine: str | None = None
    description: str = ""


TARGETS = {
    "host": Target("host", None, ("cmake", "cc"), description="x86-64 host (gcc)"),
    "m4": Target("m4", "arm-none-eabi-m4.cmake", ("cmake", "arm-none-eabi-gcc", "qemu-system-arm"),
                 True, "mps2-an386", "Cortex-M4F, mps2-an386"),
    "m7": Target("m7", "arm-none-eabi-m7.cmake", ("cmake", "arm-none-eabi-gcc", "qemu-system-arm"),
                 True, "mps2-an500", "Cortex-M7, mps2-an500"),
    "m3": Target("m3", "arm-none-eabi-m3.cmake", ("cmake", "arm-none-eabi-gcc", "qemu-system-arm"),
                 True, "mps2-an385", "Cortex-M3 soft-float, mps2-an385"),
    "aarch64": Target("aarch64", "aarch64-linux-gnu.cmake", ("cmake", "aarch64-linux-gnu-gcc", "qemu-aarch64"),
                      description="aarch64 Linux, qemu-aarch64"),
    "armhf": Target("armhf", "arm-linux-gnueabihf.cmake", ("cmake", "arm-linux-gnueabihf-gcc", "qemu-arm"),
                    description="armhf Linux, qemu-arm"),
}

# QEMU command line of the bare-metal boards (output through semihosting on stdout).
def qemu_board_command(machine: str, elf) -> list[str]:
    return ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-nic", "none", "-chardev", "stdio,id=sh0",
            "-semihosting-config", "enable=on,target=native,chardev=sh0", "-kernel", str(elf)]


def missing_tools(target: str) -> list[str]:
    """Programs the target needs that are not on PATH (empty list: it can be built and run)."""
    return [t for t in TARGETS[target].tools if shutil.which(t) is None]


def _run(cmd, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def build(project: Path, build_dir: Path, target: str, expected_output: Path | None = None,
          bench_targets: bool = False, extra: list[str] | None = None) -> Path:
    """cmake configure + build; returns build_dir. Raises RuntimeError with the tool output."""
    project, build_dir = Path(project).resolve(), Path(build_dir).resolve()
    t = TARGETS[target]
    cmd = ["cmake", "-S", str(project), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release"]
    if t.toolchain:
        cmd.append(f"-DCMAKE_TOOLCHAIN_FILE={project / 'toolchains' / t.toolchain}")
    if expected_output is not None:
        cmd.append(f"-DSAFU_EXPECTED_OUTPUT={Path(expected_output).resolve()}")
    if bench_targets:
        cmd.append("-DSAFU_BENCH_TARGETS=ON")
    cmd += extra or []
    _run(cmd)
    _run(["cmake", "--build", str(build_dir), "-j2"])
    return build_dir


def ctest(build_dir: Path) -> str:
    """Runs ctest in build_dir; returns its output. Raises RuntimeError if any test fails."""
    return _run(["ctest", "--output-on-failure"], cwd=build_dir).stdout


def program_path(build_dir: Path, target: str, name: str = "safu_mcu") -> Path:
    return Path(build_dir) / (name + (".elf" if TARGETS[target].bare_metal else ""))


def run_command(build_dir: Path, target: str, name: str = "safu_mcu") -> list[str]:
    """The command that runs a built program on its target (QEMU for everything but host)."""
    t, exe = TARGETS[target], program_path(build_dir, target, name)
    if t.bare_metal:
        return qemu_board_command(t.qemu_machine, exe)
    if target == "aarch64":
        return ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", str(exe)]
    if target == "armhf":
        return ["qemu-arm", "-L", "/usr/arm-linux-gnueabihf", str(exe)]
    return [str(exe)]


def run_program(build_dir: Path, target: str, name: str = "safu_mcu", stdin: str | None = None,
                args: list[str] | None = None) -> str:
    """Runs the program and returns its stdout; raises RuntimeError on a non-zero exit."""
    cmd = run_command(build_dir, target, name) + (args or [])
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def elf_size(elf: Path) -> dict[str, int]:
    """text/data/bss of an ELF (arm-none-eabi-size, Berkeley format): flash = text + data,
    static RAM = data + bss."""
    out = _run(["arm-none-eabi-size", str(elf)]).stdout.splitlines()[1].split()
    text, data, bss = int(out[0]), int(out[1]), int(out[2])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}


def count_instructions(elf: Path, machine: str, single_step: bool = False) -> int:
    """Instructions executed by the whole program under QEMU (deterministic, repeatable).

    Default: QEMU logs each translated block's instructions once (-d in_asm) and every block
    execution (-d exec,nochain); the count is the sum over executions of the block's length. This
    equals the count of a one-instruction-per-block trace (-singlestep, one trace line per
    instruction; single_step=True) but writes about a tenth of the lines. The log goes through a
    FIFO, so nothing lands on disk."""
    import tempfile
    import threading

    with tempfile.TemporaryDirectory() as tmp:
        fifo = os.path.join(tmp, "exec.fifo")
        os.mkfifo(fifo)
        result = {"total": 0, "error": None}

        def reader():
            sizes, current, total = {}, None, 0
            try:
                with open(fifo, "r", errors="replace") as f:
                    for line in f:
                        if line.startswith("Trace"):        # Trace 0: host [flags/pc/...] symbol
                            total += 1 if single_step else sizes[int(line.split("[", 1)[1].split("/")[1], 16)]
                        elif line.startswith("IN:"):        # a block is translated: its lines follow
                            current = -1
                        elif line.startswith("0x") and current is not None:
                            if current == -1:
                                current = int(line.split(":", 1)[0], 16)
                                sizes[current] = 0
                            sizes[current] += 1
                        elif not line.strip():
                            current = None
            except Exception as exc:  # reported after QEMU exits
                result["error"] = exc
            result["total"] = total

        th = threading.Thread(target=reader)
        th.start()
        log = ["-singlestep", "-d", "exec,nochain"] if single_step else ["-d", "in_asm,exec,nochain"]
        cmd = qemu_board_command(machine, elf) + log + ["-D", fifo]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            try:                      # unblock the reader if QEMU never opened the FIFO
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        th.join()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr[-2000:]}")
        if result["error"] is not None:
            raise RuntimeError(f"could not parse the QEMU log: {result['error']!r}")
        return result["total"]
