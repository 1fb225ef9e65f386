"""Build of the C engine. Everything else is in pyproject.toml.

Environment switches used by the test scripts:
  LEAKTRACE_WERROR=1                   turn warnings into errors (CI)
  LEAKTRACE_SANITIZE=address,undefined build with sanitizers
"""

import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

SOURCES = sorted(str(p) for p in Path("src/core").glob("*/lt_*.c"))

compile_args = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
link_args: list[str] = []
if os.environ.get("LEAKTRACE_WERROR"):
    compile_args.append("-Werror")
sanitize = os.environ.get("LEAKTRACE_SANITIZE")
if sanitize:
    compile_args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-g", "-O1"]
    link_args += [f"-fsanitize={sanitize}"]


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
    cmdclass={"build_py": BuildPyWithPth},
    ext_modules=[
        Extension(
            "leaktrace._core",
            sources=SOURCES,
            include_dirs=["src/core"],
            libraries=["m"],  # lt_sampler: log, expm1
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            depends=sorted(str(p) for p in Path("src/core").glob("*/*.h")),
        )
    ],
)
