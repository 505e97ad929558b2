"""Linux boards: the C++ core (cpp/) and safu-run cross-compile for aarch64 and armhf with the
toolchain files in export/c_runtime/toolchains/, their C++ tests pass under qemu-aarch64 / qemu-arm (ctest,
CMAKE_CROSSCOMPILING_EMULATOR), and safu-run prints exactly the x86 host's JSON lines.
Skips with a reason when cpp/ is not in this checkout or a cross toolchain is missing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from export_helpers import TINY_UTTERANCES, write_tiny_intent_model  # noqa: E402

from safu.export import c_build  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CPP = REPO / "cpp"
TOOLCHAINS = REPO / "export" / "c_runtime" / "toolchains"
CROSS = {"aarch64": ("aarch64-linux-gnu.cmake", "aarch64-linux-gnu-g++"),
         "armhf": ("arm-linux-gnueabihf.cmake", "arm-linux-gnueabihf-g++")}

pytestmark = pytest.mark.skipif(not (CPP / "CMakeLists.txt").exists() or not (CPP / "tools" / "safu_run.cpp").exists(),
                                reason="the C++ core (cpp/ with tools/safu_run.cpp) is not in this checkout")


def cmake_build(build: Path, toolchain: Path | None = None) -> Path:
    cmd = ["cmake", "-S", str(CPP), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
           "-DSAFU_BUILD_TESTS=ON", "-DSAFU_BUILD_TOOLS=ON", "-DSAFU_BUILD_PYTHON=OFF"]
    if toolchain is not None:
        cmd.append(f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
    for c in (cmd, ["cmake", "--build", str(build), "-j2"]):
        proc = subprocess.run(c, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, f"{' '.join(c)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return build


def safu_run(cmd_prefix: list[str], exe: Path, model: Path) -> str:
    proc = subprocess.run(cmd_prefix + [str(exe), str(model)], input="\n".join(TINY_UTTERANCES) + "\n",
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    if c_build.missing_tools("host") or not __import__("shutil").which("c++"):
        pytest.skip("no host C++ compiler / cmake")
    root = tmp_path_factory.mktemp("linux_boards")
    model = write_tiny_intent_model(root / "tiny.safu", seed=11)
    build = cmake_build(root / "host")
    out = safu_run([], build / "safu-run", model)
    return {"root": root, "model": model, "out": out}


def test_host_safu_run_matches_python_api(host):
    from safu.runtime.api import load

    api = load(host["model"], backend="numpy")
    lines = host["out"].splitlines()
    assert len(lines) == len(TINY_UTTERANCES)
    for text, line in zip(TINY_UTTERANCES, lines):
        if not text:
            continue   # the empty line: the C++ core's handling is its own tests' business
        got, want = json.loads(line), api.predict(text)
        assert got["intent"] == want.intent, text
        assert got["slots"] == want.slots, text


@pytest.mark.parametrize("target", ["aarch64", "armhf"])
def test_cross_build_ctest_and_same_answers_as_x86(host, target):
    toolchain, compiler = CROSS[target]
    missing = c_build.missing_tools(target) + ([] if __import__("shutil").which(compiler) else [compiler])
    if missing:
        pytest.skip(f"{target}: missing {', '.join(missing)} (see .ci/apt/deploy.txt)")
    build = cmake_build(host["root"] / target, TOOLCHAINS / toolchain)
    e_machine = int.from_bytes((build / "safu-run").read_bytes()[18:20], "little")   # ELF header
    assert e_machine == (0xB7 if target == "aarch64" else 0x28), hex(e_machine)        # EM_AARCH64 / EM_ARM
    proc = subprocess.run(["ctest", "--output-on-failure"], cwd=build, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:]
    prefix = c_build.run_command(build, target, "safu-run")[:-1]        # qemu-<arch> -L <sysroot>
    assert safu_run(prefix, build / "safu-run", host["model"]) == host["out"]
