"""Build etcdstream: the Python package plus its compiled codec from cext/.

ETCDSTREAM_NO_EXTENSIONS=1 builds a pure-Python install. Otherwise a missing
compiler fails the build: a silent fallback would hide a 5x slower client.
"""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_EXTENSIONS = os.environ.get("ETCDSTREAM_NO_EXTENSIONS", "") not in ("", "0")

HOW_TO_FIX = (
    "etcdstream compiles its codec (cext/) with Cython and a C compiler. "
    "Install a C compiler and the Python headers (Debian: apt-get install gcc python3-dev), "
    "or set ETCDSTREAM_NO_EXTENSIONS=1 for a slower pure-Python install."
)


class BuildCodec(build_ext):
    """build_ext whose failure says how to fix it instead of a bare compiler error."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            raise SystemExit(f"error: building etcdstream._codec failed: {exc}\n{HOW_TO_FIX}") from exc

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            raise SystemExit(f"error: building {ext.name} failed: {exc}\n{HOW_TO_FIX}") from exc


def codec_extensions():
    if NO_EXTENSIONS:
        return []
    from Cython.Build import cythonize

    return cythonize(
        [Extension("etcdstream._codec", ["cext/_codec.pyx"])],
        include_path=["cext"],
        compiler_directives={"language_level": 3, "embedsignature": True},
    )


setup(ext_modules=codec_extensions(), cmdclass={"build_ext": BuildCodec})
