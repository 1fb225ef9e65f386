"""Build of the C engine. Everything else is in pyproject.toml.

Environment switches used by the test scripts:
  LEAKTRACE_WERROR=1                   turn warnings into errors (CI)
  LEAKTRACE_SANITIZE=address,undefined build with sanitizers
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.errors import PlatformError

SOURCES = sorted(str(p) for p in Path("src/core").glob("*/lt_*.c"))

# Hidden visibility: only PyInit__core (PyMODINIT_FUNC) is exported, so calls and
# global loads between the engine's units go direct, not through the PLT and the GOT
# (the allocation hooks make several per allocation).
compile_args = [
    "-std=gnu11",
    "-O2",
    "-fvisibility=hidden",
    "-Wall",
    "-Wextra",
    "-Wno-missing-field-initializers",
]
link_args: list[str] = []
if os.environ.get("LEAKTRACE_WERROR"):
    compile_args.append("-Werror")
sanitize = os.environ.get("LEAKTRACE_SANITIZE")
if sanitize:
    compile_args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-g", "-O1"]
    link_args += [f"-fsanitize={sanitize}"]


def unsupported_interpreter() -> str | None:
    """Describes this interpreter if the C engine cannot run on it, else None.

    The engine reads CPython's frame and object layouts of 3.10-3.13 (compat/lt_compat.h),
    relies on the GIL, and uses Linux x86-64 interfaces (/proc, ELF, the System V ABI).
    requires-python already keeps pip away from other versions; this catches the rest:
    another OS or machine, PyPy, free-threaded builds, --ignore-requires-python.
    """
    name = sys.implementation.name
    version = "{}.{}.{}".format(*sys.version_info[:3])
    gil_disabled = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    machine = platform.machine()
    if (
        name == "cpython"
        and (3, 10) <= sys.version_info[:2] <= (3, 13)
        and not gil_disabled
        and sys.platform == "linux"
        and machine == "x86_64"
    ):
        return None
    build = " free-threaded" if gil_disabled else ""
    return f"{platform.python_implementation()} {version}{build} on {platform.system()} {machine}"


class BuildExtChecked(build_ext):
    """Refuses, in one line, to compile the engine where it cannot work. Only building
    the extension is refused: an sdist can be made anywhere."""

    def run(self) -> None:
        this = unsupported_interpreter()
        if this is not None:
            raise PlatformError(
                f"leaktrace supports CPython 3.10-3.13 on Linux x86-64; this is {this}"
            )
        super().run()


class BuildPyWithPth(build_py):
    """Also installs leaktrace-follow.pth at the top of site-packages: it starts
    tracking in Python programs started by a tracked one, and does nothing unless
    LEAKTRACE_FOLLOW is set (docs/children.md)."""

    PTH = "leaktrace-follow.pth"

    def run(self) -> None:
        super().run()
        self.copy_file(str(Path("src") / self.PTH), str(Path(self.build_lib) / self.PTH))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / self.PTH)]


setup(
    cmdclass={"build_ext": BuildExtChecked, "build_py": BuildPyWithPth},
    ext_modules=[
        Extension(
            "leaktrace._core",
            sources=SOURCES,
            include_dirs=["src/core"],
            # libm: lt_sampler (log, expm1). Before glibc 2.34 (the manylinux_2_28 image)
            # threads and dladdr/dlsym lived in libpthread and libdl; since, in libc.
            libraries=["m", "pthread", "dl"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            depends=sorted(str(p) for p in Path("src/core").glob("*/*.h")),
        )
    ],
)
