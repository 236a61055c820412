"""The llama.cpp build Parley installs runs on any x86-64 CPU from AVX2 up.

A build compiled for the machine that built it (GGML_NATIVE) takes ggml's AVX-512 and AMX code
paths there, and on an AMX Xeon the first prompt segfaults. These tests read what was compiled
in, from the library itself and from its machine code, so they hold on any build machine.
"""

from __future__ import annotations

import ctypes
import importlib.util
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="the portable build flags are x86-64's")

# AMX tile instructions, and any use of the 512-bit AVX-512 registers.
AMX_INSTRUCTIONS = re.compile(r"\b(ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tilezero|tilerelease|tdp\w+)\b")
AVX512_REGISTERS = re.compile(r"%zmm\d+|%k[1-7]\b")


def llama_libraries() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.submodule_search_locations, "llama-cpp-python is not installed"
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    libraries = sorted({path.resolve() for path in lib_dir.glob("lib*.so*")})
    assert any(path.name.startswith("libggml-cpu") for path in libraries), f"no ggml CPU library in {lib_dir}"
    return libraries


def ggml_cpu() -> ctypes.CDLL:
    library = next(path for path in llama_libraries() if path.name.startswith("libggml-cpu.so"))
    return ctypes.CDLL(str(library))


def test_ggml_reports_avx2_compiled_in_and_neither_avx512_nor_amx():
    """ggml_cpu_has_* answer what the compiler was allowed to use (#if __AVX512F__ and so on)."""
    ggml = ggml_cpu()
    compiled = {name: getattr(ggml, f"ggml_cpu_has_{name}")() for name in ("avx2", "fma", "f16c", "avx512", "amx_int8")}
    assert compiled == {"avx2": 1, "fma": 1, "f16c": 1, "avx512": 0, "amx_int8": 0}


def test_no_library_contains_amx_or_avx512_instructions():
    objdump = shutil.which("objdump")
    assert objdump, "objdump (Debian's binutils) is needed: `make test` installs it"
    found = {}
    for library in llama_libraries():
        code = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True,
                              check=True).stdout
        hits = AMX_INSTRUCTIONS.findall(code) + AVX512_REGISTERS.findall(code)
        if hits:
            found[library.name] = sorted(set(hits))[:5]
    assert not found, f"AMX or AVX-512 code in the llama.cpp build: {found}"


def test_no_amx_backend_is_exported():
    nm = shutil.which("nm")
    assert nm, "nm (Debian's binutils) is needed: `make test` installs it"
    symbols = "".join(
        subprocess.run([nm, "-D", str(library)], capture_output=True, text=True, check=True).stdout
        for library in llama_libraries()
    )
    assert "ggml_backend_amx" not in symbols
