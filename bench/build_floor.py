"""Build the benchmark-only floor helper (bench/_codec_floor.pyx) next to this file.

    python bench/build_floor.py     (needs Cython and a C compiler, as the codec does)

It is not part of the etcdstream package: setup.py does not know it, and it
lands in bench/, which no wheel or sdist ships.
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    os.chdir(HERE)
    setup(
        name="etcdstream-bench-floor",
        script_args=["build_ext", "--inplace", "--build-temp", os.path.join(HERE, "build")] + sys.argv[1:],
        ext_modules=cythonize([Extension("_codec_floor", ["_codec_floor.pyx"])], compiler_directives={"language_level": 3}),
    )
