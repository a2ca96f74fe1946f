#!/usr/bin/env python3
"""tests/install/test_install.py: what `meson install` puts down works for an outside program.

Goal: the staged install alone (no source tree, no build tree on any path) is enough to
build and run a worker in C and in C++ with `pkg-config --cflags --libs libpflight`;
every public header is installed; every public symbol of both libraries is exported by
the installed library that owns it; the worker's library, its pkg-config file and a
worker built on it carry nothing of the control plane (libyaml, jansson, libsodium,
libpflight-ctl); and the systemd unit names the configured directories, is Type=notify
with a watchdog and its hardening, points at documentation that is installed, and passes
`systemd-analyze verify`; the manual pages are installed with this build's version.
Method: `meson install --destdir` of the build into a temporary directory, then
pkg-config pointed at it (PKG_CONFIG_PATH, PKG_CONFIG_SYSROOT_DIR) and LD_LIBRARY_PATH to
run; ldd checks that the staged libraries, not the build's, were loaded.

Usage: test_install.py --build DIR --source DIR --cc CMD [--cxx CMD]
                       [--bindir DIR --sysconfdir DIR --docdir DIR] [--version V]
                       [CHECK...]
  One staged install, then each CHECK in turn (all of them when none is named):
  worker-c, worker-cxx (tests/install/outside_worker.c as C11 / C++17), exports (every
  name of the maps' public nodes, referenced from an outside program), deps (the worker's
  library and what depends on it), unit (pflightd.service; the directories are the
  configured ones, absolute), man (pflight.1 and pflightd.8 name version V). worker-cxx is skipped without --cxx. Exits 0, 1 when a
  check failed (each failure names its check; the others still run), 77 when a tool it
  needs is missing.
"""
import argparse
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

CONTROL_PLANE = re.compile(r"yaml|jansson|sodium|pflight-ctl")
MAPS = {"libpflight": ("core/libpflight.map", "PF_0.1"),
        "libpflight-ctl": ("ctl/libpflight-ctl.map", "PF_CTL_0.1")}


class Failed(Exception):
    pass


def run(cmd, env=None, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if r.returncode != 0:
        raise Failed(f"{shlex.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout


class Stage:
    """A `meson install --destdir` of the build, and pkg-config pointed at it."""

    def __init__(self, build, tmp):
        self.root = pathlib.Path(tmp) / "stage"
        run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
             "--destdir", str(self.root)])
        pcs = sorted(self.root.rglob("pkgconfig/libpflight.pc"))
        if not pcs:
            raise Failed(f"meson install put no libpflight.pc under {self.root}")
        self.pcdir = pcs[0].parent
        self.libdir = self.pcdir.parent
        self.env = dict(os.environ)
        self.env["PKG_CONFIG_PATH"] = os.pathsep.join(
            [str(self.pcdir)] + [p for p in [os.environ.get("PKG_CONFIG_PATH")] if p])
        self.env["PKG_CONFIG_SYSROOT_DIR"] = str(self.root)
        self.env["LD_LIBRARY_PATH"] = str(self.libdir)

    def pkg_config(self, *args):
        return shlex.split(run(["pkg-config", *args], env=self.env))

    def includedir(self):
        flags = self.pkg_config("--cflags-only-I", "libpflight")
        dirs = [f[2:] for f in flags if f.startswith("-I")]
        if not dirs or not dirs[0].startswith(str(self.root)):
            raise Failed(f"pkg-config --cflags libpflight names {flags}, not the stage")
        return pathlib.Path(dirs[0])

    def build(self, compiler, lang_flags, src, out, package):
        cmd = [*compiler, *lang_flags, "-Wall", "-Wextra", "-Werror", "-o", str(out), str(src),
               *self.pkg_config("--cflags", "--libs", package)]
        run(cmd, env=self.env)
        return out

    def loaded_from(self, binary, lib):
        """The path ldd resolves lib to for binary, under the stage's LD_LIBRARY_PATH."""
        for line in run(["ldd", str(binary)], env=self.env).splitlines():
            parts = line.split()
            if parts and parts[0].startswith(lib) and "=>" in parts:
                return parts[parts.index("=>") + 1]
        return None


def needed(path):
    out = run(["readelf", "-d", str(path)])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def check_headers(stage, source):
    """Every public header of the source tree (and the generated version.h) is installed."""
    inc = stage.includedir() / "pflight"
    want = sorted(p.name for p in (source / "include" / "pflight").glob("*.h")) + ["version.h"]
    missing = [h for h in want if not (inc / h).is_file()]
    if missing:
        raise Failed(f"not installed under {inc}: {', '.join(missing)}")
    return len(want)


def outside_worker(stage, args, tmp, cxx):
    """tests/install/outside_worker.c built on the stage with pkg-config libpflight alone,
    as C11 or C++17; built once, whichever check asks first."""
    out = pathlib.Path(tmp) / ("outside_worker_cxx" if cxx else "outside_worker_c")
    if out.exists():
        return out
    src = pathlib.Path(args.source) / "tests" / "install" / "outside_worker.c"
    if cxx:
        return stage.build(shlex.split(args.cxx), ["-std=c++17", "-x", "c++"], src, out,
                           "libpflight")
    return stage.build(shlex.split(args.cc), ["-std=c11", "-Wpedantic"], src, out, "libpflight")


def check_worker(stage, args, tmp, cxx):
    source = pathlib.Path(args.source)
    n = check_headers(stage, source)
    exe = outside_worker(stage, args, tmp, cxx)
    where = stage.loaded_from(exe, "libpflight.so")
    if where is None or not where.startswith(str(stage.root)):
        raise Failed(f"{exe.name} loads libpflight from {where}, not from the stage")
    name = worker_domains("worker-cxx" if cxx else "worker-c")[0]
    out = run([str(exe), name], env=stage.env)
    print(f"{n} headers installed; {exe.name} built with pkg-config libpflight alone, "
          f"loaded {where}")
    print(out.strip())


def worker_domains(check):
    """The domains the check's outside worker creates (and destroys when it gets that far)."""
    if check in ("worker-c", "worker-cxx"):
        return [f"pf-test-install-{check[len('worker-'):]}-{os.getpid()}"]
    return []


def public_names(source, package):
    mapfile, node = MAPS[package]
    text = (source / mapfile).read_text()
    m = re.search(re.escape(node) + r"\s*\{(.*?)\}", text, re.S)
    if m is None:
        raise Failed(f"{mapfile}: no {node} node")
    body = re.sub(r"#[^\n]*", "", m.group(1)).split("local:", 1)[0]
    return re.findall(r"\b(pf_\w+)\s*;", body)


def check_exports(stage, args, tmp):
    """An outside program takes the address of every public function of each library,
    linked through that library's pkg-config name alone; the link fails on any name the
    installed library does not export, and the program must run."""
    source = pathlib.Path(args.source)
    for package in MAPS:
        names = public_names(source, package)
        src = pathlib.Path(tmp) / f"exports_{package.replace('-', '_')}.c"
        src.write_text(
            "#include <stdio.h>\n#include <pflight/pflight.h>\n"
            "typedef void (*any_fn)(void);\n"
            "static const any_fn api[] = {\n"
            + "".join(f"\t(any_fn){n},\n" for n in names)
            + "};\nint main(void)\n{\n"
            "\tprintf(\"%zu\\n\", sizeof(api) / sizeof(api[0]));\n\treturn api[0] == 0;\n}\n")
        exe = stage.build(shlex.split(args.cc), ["-std=c11", "-Wpedantic"], src,
                          src.with_suffix(""), package)
        got = run([str(exe)], env=stage.env).strip()
        if got != str(len(names)):
            raise Failed(f"{exe.name} printed {got}, not {len(names)}")
        print(f"{package}: the {len(names)} public functions of {MAPS[package][0]} link "
              f"from an outside program (pkg-config {package})")


def check_deps(stage, args, tmp):
    lib = next(iter(sorted(stage.libdir.glob("libpflight.so.*"))), None)
    ctl = next(iter(sorted(stage.libdir.glob("libpflight-ctl.so.*"))), None)
    if lib is None or ctl is None:
        raise Failed(f"libpflight.so.* or libpflight-ctl.so.* not installed in {stage.libdir}")
    direct = needed(lib)
    bad = [n for n in direct if CONTROL_PLANE.search(n)]
    if bad:
        raise Failed(f"{lib.name} needs {', '.join(bad)}")
    loaded = run(["ldd", str(lib)], env=stage.env)
    bad = [line.strip() for line in loaded.splitlines() if CONTROL_PLANE.search(line)]
    if bad:
        raise Failed(f"ldd {lib.name} loads {'; '.join(bad)}")
    reqs = run(["pkg-config", "--print-requires", "--print-requires-private", "libpflight"],
               env=stage.env)
    static_libs = " ".join(stage.pkg_config("--libs", "--static", "libpflight"))
    if CONTROL_PLANE.search(reqs) or CONTROL_PLANE.search(static_libs):
        raise Failed(f"libpflight.pc requires {reqs.split()} and links {static_libs}")
    worker_needs = needed(outside_worker(stage, args, tmp, False))
    if any(CONTROL_PLANE.search(n) for n in worker_needs) or \
            not any(n.startswith("libpflight.so") for n in worker_needs):
        raise Failed(f"a worker built on libpflight needs {worker_needs}")
    # The other side, so that the checks above cannot pass by seeing nothing.
    ctl_needs = needed(ctl)
    for want in ("libpflight.so", "libyaml", "libjansson", "libsodium"):
        if not any(n.startswith(want) for n in ctl_needs):
            raise Failed(f"{ctl.name} does not need {want}: {ctl_needs}")
    ctl_reqs = run(["pkg-config", "--print-requires", "libpflight-ctl"], env=stage.env)
    if "libpflight" not in ctl_reqs.split():
        raise Failed(f"libpflight-ctl.pc does not require libpflight: {ctl_reqs!r}")
    print(f"{lib.name} needs {', '.join(direct)}; ldd finds nothing of the control plane")
    print(f"libpflight.pc requires nothing of it; a worker needs {', '.join(worker_needs)}")
    print(f"{ctl.name} needs {', '.join(ctl_needs)}")


# What the unit must say (key: the values it must hold; None: any value).
UNIT_MUST = {
    "Type": ["notify"], "NotifyAccess": ["main"], "WatchdogSec": None,
    "ProtectSystem": ["strict"], "ProtectHome": None, "PrivateTmp": ["yes"],
    "NoNewPrivileges": ["yes"], "ProtectKernelTunables": ["yes"],
    "ProtectKernelModules": ["yes"], "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
    "LockPersonality": ["yes"], "MemoryDenyWriteExecute": ["yes"],
    "SystemCallArchitectures": ["native"], "ReadWritePaths": ["/dev/shm /var/lib/pflight"],
    "RuntimeDirectory": ["pflight"], "StateDirectory": ["pflight"],
}


def parse_unit(text):
    """{key: [values]} of the [Service] and [Unit] sections (continuations not used)."""
    keys, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif "=" in line and section in ("[Unit]", "[Service]"):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def check_unit(stage, args, tmp):
    units = sorted(stage.root.rglob("systemd/system/pflightd.service"))
    if not units:
        raise Failed("pflightd.service is not installed")
    text = units[0].read_text()
    if "@" in re.sub(r"#[^\n]*", "", text):
        raise Failed(f"{units[0]}: an @variable@ was left unsubstituted")
    keys = parse_unit(text)
    for key, want in UNIT_MUST.items():
        if key not in keys or want is not None and keys[key] != want:
            raise Failed(f"pflightd.service: {key}={keys.get(key)}, want {want or 'set'}")
    exe = keys["ExecStart"][0].split()
    if exe[0] != f"{args.bindir}/pflightd":
        raise Failed(f"ExecStart runs {exe[0]}, not {args.bindir}/pflightd")
    if not os.access(str(stage.root) + exe[0], os.X_OK):
        raise Failed(f"ExecStart's {exe[0]} is not installed")
    manifest = exe[exe.index("--manifest") + 1]
    if manifest != f"{args.sysconfdir}/pflight/phoenixfile.yaml" or "--foreground" not in exe:
        raise Failed(f"ExecStart: {' '.join(exe)}")
    docs = [d[len("file://"):] for d in keys["Documentation"][0].split() if d.startswith("file://")]
    installed = [f"{args.docdir}/phoenixfile.md", f"{args.docdir}/phoenixfile.example.yaml"]
    for path in docs + installed:
        if not pathlib.Path(str(stage.root) + path).is_file():
            raise Failed(f"{path} (named by the unit) is not installed")
    print(f"{units[0].relative_to(stage.root)}: ExecStart={' '.join(exe)}; Type=notify, "
          f"WatchdogSec={keys['WatchdogSec'][0]}, all {len(UNIT_MUST)} required directives; "
          f"installed: {', '.join(installed)}")
    verify_unit(stage, text, exe[0], tmp)


def verify_unit(stage, text, exe, tmp):
    """systemd-analyze verify on the unit, its ExecStart pointed at the staged binary (the
    verifier wants it to exist); any word from it is a failure."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("systemd-analyze not found: the unit was parsed, not verified")
        return
    copy = pathlib.Path(tmp) / "pflightd.service"
    copy.write_text(text.replace(f"ExecStart={exe}", f"ExecStart={stage.root}{exe}"))
    r = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True,
                       text=True)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        raise Failed(f"systemd-analyze verify (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    print("systemd-analyze verify: no finding")


def check_man(stage, args, tmp):
    """Both manual pages are installed, and their title line names this build's version."""
    for page, section in (("pflight", 1), ("pflightd", 8)):
        found = sorted(stage.root.rglob(f"man{section}/{page}.{section}"))
        if not found:
            raise Failed(f"{page}.{section} is not installed")
        th = next((line for line in found[0].read_text().splitlines()
                   if line.startswith(".TH ")), None)
        fields = shlex.split(th[len(".TH "):]) if th else []
        want = f"pflight {args.version}"
        if len(fields) < 4 or fields[3] != want:
            raise Failed(f"{found[0].relative_to(stage.root)}: {th!r}, want \"{want}\" "
                         "as its fourth field")
        print(f"{found[0].relative_to(stage.root)}: {th}")


CHECKS = {
    "worker-c": lambda stage, args, tmp: check_worker(stage, args, tmp, False),
    "worker-cxx": lambda stage, args, tmp: check_worker(stage, args, tmp, True),
    "exports": check_exports,
    "deps": check_deps,
    "unit": check_unit,
    "man": check_man,
}


def unlink_domains(names):
    """Remove what an outside worker that died midway left in /dev/shm."""
    for name in names:
        try:
            os.unlink(f"/dev/shm/pflight-{name}")
        except FileNotFoundError:
            pass


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("checks", nargs="*", metavar="CHECK", default=list(CHECKS))
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--cxx")
    ap.add_argument("--bindir")
    ap.add_argument("--sysconfdir")
    ap.add_argument("--docdir")
    ap.add_argument("--version", help="the project's version (meson.project_version())")
    args = ap.parse_args(argv[1:])
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        ap.error(f"unknown check {', '.join(unknown)}: use {', '.join(CHECKS)}")
    tools = ["meson", "pkg-config", "readelf", "ldd"]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        print(f"test_install.py: skipped, missing {', '.join(missing)}")
        return 77
    failed = []
    with tempfile.TemporaryDirectory(prefix="pf-install-") as tmp:
        try:
            stage = Stage(args.build, tmp)
        except Failed as e:
            print(f"test_install.py: staging: {e}")
            return 1
        for check in args.checks:
            print(f"--- {check}")
            if check == "worker-cxx" and not args.cxx:
                print("skipped: no C++ compiler (g++)")
                continue
            try:
                CHECKS[check](stage, args, tmp)
            except Failed as e:
                print(f"test_install.py {check}: {e}")
                failed.append(check)
            finally:
                unlink_domains(worker_domains(check))
    if failed:
        print(f"test_install.py: failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
