"""Builds the Python package agent_auth (python/agent_auth) and its C
extension agent_auth._core.

The extension is compiled together with libagentauth's sources (src/*.c),
so it needs no installed library and no LD_LIBRARY_PATH; it links the
system's libyaml, jansson, SQLite and libcrypto (found with pkg-config).
Offline, with Debian's toolchain:

    /usr/bin/python3 -m venv --system-site-packages v
    v/bin/pip install --no-build-isolation --no-index .

AA_PY_SANITIZE=address (environment) builds the extension with
AddressSanitizer (see .ci/run); AA_PY_DEBUG=1 builds without optimisation.
"""
import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    """The library's version: the AA_VERSION_* macros of the public header."""
    with open(os.path.join(HERE, "include", "agent_auth.h"), encoding="utf-8") as f:
        text = f.read()
    parts = [re.search(r"^#define AA_VERSION_%s (\d+)$" % p, text, re.M)
             for p in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        raise RuntimeError("no AA_VERSION_* macros in include/agent_auth.h")
    return ".".join(m.group(1) for m in parts)


def pkg_config(*args):
    mods = ["yaml-0.1", "jansson", "sqlite3", "libcrypto"]
    try:
        out = subprocess.run(["pkg-config", *args, *mods], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(
            "pkg-config could not find libyaml, jansson, SQLite and libcrypto "
            "(run scripts/deps.sh): %s" % e)
    return shlex.split(out)


class ParallelBuildExt(build_ext):
    """Compiles the extension's sources in parallel (the library has about
    twenty files)."""

    def build_extension(self, ext):
        orig = self.compiler.compile

        def compile_parallel(sources, *args, **kw):
            jobs = max(1, os.cpu_count() or 1)
            with ThreadPoolExecutor(jobs) as pool:
                parts = list(pool.map(lambda s: orig([s], *args, **kw), sources))
            return [o for p in parts for o in p]

        self.compiler.compile = compile_parallel
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = orig


V = version()
BUILD_BASE = os.environ.get("AA_PY_BUILD_BASE", "build/python")
os.makedirs(BUILD_BASE, exist_ok=True)
lib_sources = sorted(
    os.path.join("src", f) for f in os.listdir(os.path.join(HERE, "src"))
    if f.endswith(".c"))
# The headers too: build_ext rebuilds the extension only when something it
# depends on is newer than the built module, and a changed header must count.
lib_headers = sorted(
    [os.path.join("src", f) for f in os.listdir(os.path.join(HERE, "src"))
     if f.endswith(".h")] + [os.path.join("include", "agent_auth.h")])
cflags = [f for f in pkg_config("--cflags") if not f.startswith("-I")]
incdirs = [f[2:] for f in pkg_config("--cflags") if f.startswith("-I")]
libs = [f[2:] for f in pkg_config("--libs") if f.startswith("-l")]
libdirs = [f[2:] for f in pkg_config("--libs") if f.startswith("-L")]
# libpq: only its headers (src/store_pg.c loads libpq.so.5 when a
# PostgreSQL state store is opened).
try:
    pq_cflags = shlex.split(subprocess.run(
        ["pkg-config", "--cflags", "libpq"], check=True, capture_output=True,
        text=True).stdout)
except (OSError, subprocess.CalledProcessError) as e:
    raise RuntimeError("pkg-config could not find libpq (Debian: libpq-dev; "
                       "run scripts/deps.sh): %s" % e)
incdirs += [f[2:] for f in pq_cflags if f.startswith("-I")]
extra_compile = ["-std=c11", "-fvisibility=hidden", "-Wall", "-Wno-unused-parameter"] + cflags
extra_link = ["-pthread"]
san = os.environ.get("AA_PY_SANITIZE", "")
if san:
    extra_compile += ["-fsanitize=" + san, "-fno-omit-frame-pointer", "-O1"]
    extra_link += ["-fsanitize=" + san]
elif os.environ.get("AA_PY_DEBUG"):
    extra_compile += ["-O0", "-g"]
else:
    extra_compile += ["-O2"]

setup(
    name="agent-auth",
    version=V,
    description="Authorization for AI agents, backed by libagentauth",
    long_description=open(os.path.join(HERE, "docs", "python.md"),
                          encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "docs", "python.md")) else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={"": "python"},
    packages=["agent_auth", "agent_auth.adapters"],
    package_data={"agent_auth": ["py.typed", "*.pyi"]},
    ext_modules=[
        Extension(
            "agent_auth._core",
            sources=["python/src/_core.c"] + lib_sources,
            depends=lib_headers,
            include_dirs=["include"] + incdirs,
            define_macros=[("_GNU_SOURCE", None),
                           ("AA_VERSION_STRING", '"%s"' % V)],
            libraries=libs + ["m", "dl"],
            library_dirs=libdirs,
            extra_compile_args=extra_compile,
            extra_link_args=extra_link,
        )
    ],
    cmdclass={"build_ext": ParallelBuildExt},
    # Out of the way of CMake's build/ (AA_PY_BUILD_BASE overrides, so that
    # two builds of one tree do not share objects).
    options={"build": {"build_base": BUILD_BASE},
             "egg_info": {"egg_base": BUILD_BASE}},
    zip_safe=False,
)
