#!/usr/bin/env python3
"""tools/lint/test_lint.py: tests of the lint checkers themselves.

Each checker runs on small fixture trees written into a temporary directory: a good
tree (no findings, exit 0) and a bad one with one case per rule, whose findings are
compared exactly (path:line and the reason), so a checker that passes everything, or
reports the wrong line, fails here.

Usage: test_lint.py [unittest options]   (registered in the meson suite `lint`)
"""
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent

ATOMIC_H = """\
/* fixture shm/pf_atomic.h: memory_order_* and volatile here are allowed. */
#include <stdatomic.h>
#define pf_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define pf_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define pf_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define pf_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define pf_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define pf_fetch_xor_release(p, v) atomic_fetch_xor_explicit((p), (v), memory_order_release)
#define pf_fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
static volatile int pf_atomic_h_may_say_volatile;
"""


def D(text):
    """Dedent a fixture and drop its leading newline, so line 1 is its first line."""
    return textwrap.dedent(text).lstrip("\n")


def write_tree(root, files):
    for rel, text in files.items():
        p = pathlib.Path(root) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(D(text))


def run(script, *args, env=None):
    r = subprocess.run([sys.executable, str(HERE / script), *map(str, args)],
                       capture_output=True, text=True, env=env)
    return r.returncode, r.stdout.splitlines(), r.stderr


class Fixture(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="pf-lint-")
        self.root = pathlib.Path(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()

    def tree(self, files):
        write_tree(self.root, files)
        return self.root

    def assertClean(self, script, *args):
        rc, out, err = run(script, self.root, *args)
        self.assertEqual(out, [], f"{script} reported findings on a good tree:\n{err}")
        self.assertEqual(rc, 0, err)

    def assertFindings(self, script, expected, *args):
        """expected: list of (path, line, reason substring), compared as a set."""
        rc, out, err = run(script, self.root, *args)
        got = []
        for line in out:
            path, lineno, why = line.split(":", 2)
            got.append((path, int(lineno), why.strip()))
        for path, lineno, part in expected:
            hits = [g for g in got if g[0] == path and g[1] == lineno and part in g[2]]
            self.assertTrue(hits, f"missing finding {path}:{lineno}: ...{part}...\n"
                                  f"got:\n" + "\n".join(out) + err)
        self.assertEqual(len(got), len(expected),
                         "unexpected extra findings:\n" + "\n".join(out))
        self.assertEqual(rc, 1 if expected else 0, err)
        return out


class ForbiddenTokens(Fixture):
    def test_good(self):
        self.tree({
            "shm/pf_atomic.h": ATOMIC_H,
            "core/a.c": """
                /* volatile, memory_order_relaxed and strcpy( in a comment are prose. */
                static const char *url = "http://x // not a comment";
                static const char slash = '/';
                /* a // inside a block comment */
                int snprintf_user(char *b, unsigned long n);
                int f(char *b)
                {
                	return snprintf(b, 4, "%s", "strcat(") + (slash == '"');
                }
                """,
            "tests/t.c": "static const char *s = \"a\\\"//b\";\n",
            "build-x/core/bad.c": "volatile int x; // skipped: build dir\n",
            "core/build/bad.c": "volatile int x; // skipped: build* at any depth\n",
            "tools/node_modules/bad.c": "volatile int x; // skipped\n",
            "other/bad.c": "volatile int x; // not a scanned directory\n",
        })
        self.assertClean("forbidden_tokens.py")

    def test_bad(self):
        self.tree({
            "shm/pf_atomic.h": ATOMIC_H + "// even here\n",
            "core/a.c": """
                #include <stdatomic.h>
                static volatile int flag;
                int f(char *d, const char *s)
                {
                	int x = __sync_fetch_and_add(&flag, 1);
                	x += __atomic_load_n(&flag, 0);
                	x += memory_order_relaxed;
                	strcpy(d, s);
                	strcat(d, s);
                	sprintf(d, "%d", x);
                	x += atoi(s) + (int)atol(s);
                	(void)strtok(d, ","); // a C++ comment
                	return x;
                }
                """,
            "include/pflight/x.h": "int y; /* ok */ // after a block comment\n",
            "bench/b.c": "static const char *u = \"http://x\"; // trailing\n",
        })
        self.assertFindings("forbidden_tokens.py", [
            ("core/a.c", 1, "<stdatomic.h>"),
            ("core/a.c", 2, "volatile"),
            ("core/a.c", 5, "__sync_fetch_and_add"),
            ("core/a.c", 6, "__atomic_load_n"),
            ("core/a.c", 7, "memory_order_relaxed"),
            ("core/a.c", 8, "strcpy()"),
            ("core/a.c", 9, "strcat()"),
            ("core/a.c", 10, "sprintf()"),
            ("core/a.c", 11, "atoi()"),
            ("core/a.c", 11, "atol()"),
            ("core/a.c", 12, "strtok()"),
            ("core/a.c", 12, "// comment"),
            ("shm/pf_atomic.h", 11, "// comment"),
            ("include/pflight/x.h", 1, "// comment"),
            ("bench/b.c", 1, "// comment"),
        ])


BARRIER_GOOD = {
    "shm/pf_atomic.h": ATOMIC_H,
    "shm/ring.c": """
        /* Protocol: [R1] publishes tail, [A1] reads it. */
        unsigned enq(struct r *r, unsigned v)
        {
        	/* Relaxed: this thread is the only writer of tail. */
        	unsigned tail = pf_load_relaxed(&r->tail);
        	unsigned mask = pf_load_relaxed(&r->mask);

        	r->slot[tail & mask] = v;
        	/* [R1] pairs with [A1] in deq(): publishes the slot. */
        	pf_store_release(&r->tail, tail + 1);
        	return 0;
        }

        unsigned deq(struct r *r)
        {
        	unsigned head = pf_load_relaxed(&r->head); /* relaxed: only writer */

        	if (head ==
        	    0 &&
        	    /* nothing */ 1 &&
        	    pf_load_acquire(&r->tail) == head) /* [A1] pairs with [R1] in enq() */
        		return 0;
        	/* [A2] pairs with [R2] in include/pflight/inl.h (a header's tag counts). */
        	if (r->x == 1 &&
        	    r->y == 2 &&
        	    pf_load_acquire(&r->tail) == 7)
        		return 1;
        	/* [F1] pairs with [F1] in deq(): set `sleeping`, then re-check the ring; the
        	 * store->load order needs a full fence (Dekker). */
        	pf_fence_seq_cst();
        	/* [R3] pairs with [A1] (a new macro from pf_atomic.h, tagged). */
        	pf_fetch_xor_release(&r->flags, 1);
        	return 2;
        }
        """,
    "include/pflight/inl.h": """
        static inline void inl(struct r *r)
        {
        	/* [R2] pairs with [A2] in shm/ring.c deq(). */
        	pf_store_release(&r->y, 1);
        }
        """,
    "tools/agent/a.c": """
        void ag(struct r *r)
        {
        	/* [R7] pairs with [A7] in ag2(). */
        	pf_store_release(&r->y, 1);
        }
        """,
    "tools/agent/b.c": """
        int ag2(struct r *r)
        {
        	return pf_load_acquire(&r->y); /* [A7] pairs with [R7] in ag() */
        }
        """,
    "tests/t.c": "int t(struct r *r) { return pf_load_acquire(&r->y); }\n",
    "bench/b.c": "int b(struct r *r) { return pf_load_relaxed(&r->y); }\n",
}


class BarrierTags(Fixture):
    def test_good(self):
        self.tree(BARRIER_GOOD)
        self.assertClean("barrier_tags.py")

    def test_bad(self):
        self.tree({
            "shm/pf_atomic.h": ATOMIC_H,
            "shm/a.c": """
                void f(struct r *r)
                {
                	int v = pf_load_acquire(&r->a);
                	/* [R1] publishes a */
                	pf_store_release(&r->a, 1);
                	/* [A2] pairs with [R9] in nowhere(). */
                	v = pf_load_acquire(&r->b);
                	v += pf_load_relaxed(&r->c);
                	/* [F1] pairs with [F1] in f(): a full fence. */
                	pf_fence_seq_cst();
                	pf_fetch_xor_release(&r->d, 1);
                	/* [A3] pairs with [R4] in g(): five lines above is too far. */



                	v = 3;
                	v += pf_load_acquire(&r->e);
                	/* [A5] pairs with [A2] in f(). */
                	v += pf_load_acquire(&r->f);
                	v += pf_load_acquire(&r->g);
                	pf_store_release(&r->h, 1); /* [R4] pairs with [A6] in net/ only */
                }
                """,
            "net/n.c": """
                int n(struct r *r)
                {
                	return pf_load_acquire(&r->x); /* [A6] pairs with [R4] in shm/a.c */
                }

                int n2(struct r *r)
                {
                	return pf_load_acquire(&r->y); /* [A7] pairs with [R6] in n.c */
                }
                """,
            "net/m.c": """
                void m(struct r *r)
                {
                	pf_store_release(&r->y, 1); /* [R6] pairs with [A7] in net/n.c */
                }
                """,
            "tools/x/a.c": """
                void t(struct r *r)
                {
                	pf_store_release(&r->a, 1); /* [R8] pairs with [A8] in tools/y */
                }
                """,
            "tools/y/b.c": """
                int u(struct r *r)
                {
                	return pf_load_acquire(&r->a); /* [A8] pairs with [R8] in tools/x */
                }
                """,
        })
        self.assertFindings("barrier_tags.py", [
            ("shm/a.c", 3, "pf_load_acquire() has no [A<n>]/[R<n>]/[F<n>] tag"),
            ("shm/a.c", 5, "tag [R1] at line 4 names no partner"),
            ("shm/a.c", 7, "partner [R9] is not the tag of any access in shm/ or include/pflight/"),
            ("shm/a.c", 8, "pf_load_relaxed() needs a comment saying why relaxed"),
            ("shm/a.c", 10, "store->load ordering"),
            ("shm/a.c", 11, "pf_fetch_xor_release() has no"),
            ("shm/a.c", 17, "pf_load_acquire() has no"),
            ("shm/a.c", 20, "pf_load_acquire() has no"),
            ("shm/a.c", 21, "partner [A6] is not the tag of any access in shm/"),
            ("net/n.c", 3, "partner [R4] is not the tag of any access in net/"),
            ("net/n.c", 8, "partner [R6] is not the tag of any access in n.c"),
            ("tools/x/a.c", 3, "partner [A8] is not the tag of any access in tools/x/"),
            ("tools/y/b.c", 3, "partner [R8] is not the tag of any access in tools/y/"),
        ])

    def test_no_atomic_header(self):
        self.tree({"core/a.c": "int x;\n"})
        self.assertFindings("barrier_tags.py", [("shm/pf_atomic.h", 1, "no ordered pf_*")])


SYM_HEADER = """
    #ifndef X_H
    #define X_H
    #define PF_API __attribute__((visibility("default")))
    #ifdef __cplusplus
    extern "C" {
    #endif
    struct pf_opts { unsigned size; void (*pf_cb)(void *arg); };
    typedef void (*pf_event_fn)(void *arg);
    /* pf_in_comment(void); is not a declaration. */
    PF_API int pf_a(struct pf_opts *opts);
    PF_API __attribute__((noreturn)) void pf_fail(const char *what,
    					      int line);
    static inline int pf_inline(void)
    {
    	return 1;
    }
    #ifdef __cplusplus
    }
    #endif
    #endif
    """
SYM_SOURCE = """
    #include "pflight/x.h"
    static int pf_helper(void)
    {
    	return 0;
    }
    int ring_capacity(void);
    int ring_capacity(void)
    {
    	return pf_helper();
    }
    PF_API int pf_a(struct pf_opts *opts)
    {
    	return opts->size + ring_capacity();
    }
    PF_API __attribute__((noreturn)) void
    pf_fail(const char *what, int line)
    {
    	for (;;) {
    	}
    }
    """
SYM_MAP = """
    PF_0.1 {
    	global:
    		pf_a;
    		pf_fail;
    	local:
    		*;
    };
    """


class Symbols(Fixture):
    def test_good(self):
        self.tree({"include/pflight/x.h": SYM_HEADER, "core/x.c": SYM_SOURCE,
                   "core/libpflight.map": SYM_MAP})
        self.assertClean("symbols.py")

    def test_bad(self):
        self.tree({
            "include/pflight/x.h": D(SYM_HEADER) + "PF_API int pf_c(void);\nint pf_e(int);\n",
            "include/pflight/v.h.in": "int pf_v(void); /* @VERSION@ */\n",
            "core/x.c": D(SYM_SOURCE) + "int pf_b(void)\n{\n\treturn 0;\n}\n",
            "net/e.c": "int pf_e(int x)\n{\n\treturn x;\n}\n",
            "shm/v.c": "int pf_v(void)\n{\n\treturn 1;\n}\n",
            "core/libpflight.map": D(SYM_MAP).replace("pf_fail;", "pf_fail;\n\t\tpf_d;\n\t\tpf_v;"),
        })
        self.assertFindings("symbols.py", [
            ("core/x.c", 21, "pf_b is defined here, but not declared in include/pflight/ "
                             "and not listed in core/libpflight.map"),
            ("include/pflight/x.h", 21, "pf_c is declared here, but not defined (non-static) "
                                        "in core/ shm/ net/ and not listed in "
                                        "core/libpflight.map"),
            ("core/libpflight.map", 5, "pf_d is listed here, but not defined"),
            ("net/e.c", 1, "pf_e is defined here; also declared at include/pflight/x.h:22, "
                           "but not listed in core/libpflight.map"),
        ])

    def test_two_libraries(self):
        ctl_map = D(SYM_MAP).replace("PF_0.1", "PF_CTL_0.1").replace(
            "\t\tpf_a;\n\t\tpf_fail;\n", "\t\tpf_y;\n")
        header = D(SYM_HEADER) + "PF_API int pf_y(void);\n"
        self.tree({"include/pflight/x.h": header, "core/x.c": SYM_SOURCE,
                   "core/libpflight.map": SYM_MAP,
                   "ctl/y.c": "int pf_y(void)\n{\n\treturn 0;\n}\n",
                   "ctl/libpflight-ctl.map": ctl_map})
        self.assertClean("symbols.py")
        # pf_z: defined in ctl/ but listed in libpflight's map; pf_w: in both libraries.
        self.tree({"include/pflight/x.h": header + "PF_API int pf_z(void);\n",
                   "ctl/z.c": "int pf_z(void)\n{\n\treturn 0;\n}\nint pf_a(void)\n{\n"
                              "\treturn 1;\n}\n",
                   "core/libpflight.map": D(SYM_MAP).replace("pf_fail;", "pf_fail;\n\t\tpf_z;")})
        self.assertFindings("symbols.py", [
            ("core/libpflight.map", 5, "pf_z is listed here, but libpflight-ctl has it (ctl): "
                                       "list it in ctl/libpflight-ctl.map"),
            ("ctl/z.c", 5, "pf_a is defined here and at core/x.c:11: one library each"),
        ])

    def test_private_node(self):
        private = ("PF_PRIVATE {\n\tglobal:\n\t\tpf_private_ring_capacity;\n"
                   "\t\tpf_private_gone;\n\t\tring_raw;\n} PF_0.1;\n")
        self.tree({"include/pflight/x.h": SYM_HEADER, "core/x.c": SYM_SOURCE,
                   "core/libpflight.map": D(SYM_MAP) + private,
                   "core/ring.h": "#define PF_PRIVATE_EXPORT(name) name\n"
                                  "int ring_capacity(void) PF_PRIVATE_EXPORT(ring_capacity);\n"
                                  "/* PF_PRIVATE_EXPORT(in_comment) */\n"
                                  "int ring_more(void) PF_PRIVATE_EXPORT(ring_more);\n",
                   "ctl/c.h": "int c_x(void) PF_PRIVATE_EXPORT(c_x);\n",
                   "ctl/libpflight-ctl.map": "PF_CTL_0.1 {\n\tlocal:\n\t\t*;\n};\n"})
        self.assertFindings("symbols.py", [
            ("core/libpflight.map", 11, "pf_private_gone is listed here, but no private header "
                                        "of core/ shm/ net/ marks gone"),
            ("core/libpflight.map", 12, "ring_raw is listed in PF_PRIVATE but is not "
                                        "pf_private_<name>"),
            ("core/ring.h", 4, "ring_more is lent here (PF_PRIVATE_EXPORT), but "
                               "pf_private_ring_more is not listed in the PF_PRIVATE node"),
            ("ctl/c.h", 1, "c_x: only libpflight lends"),
        ])

    def fake_nm(self, output):
        nm = self.root / "fake-nm"
        nm.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({output!r})\n")
        nm.chmod(nm.stat().st_mode | stat.S_IXUSR)
        return nm

    def test_shared_lib(self):
        self.tree({"include/pflight/x.h": SYM_HEADER, "core/x.c": SYM_SOURCE,
                   "core/libpflight.map": SYM_MAP})
        good = self.fake_nm("0000000000000000 A PF_0.1\n"
                            "0000000000001100 T pf_a@@PF_0.1\n"
                            "0000000000001200 T pf_fail@@PF_0.1\n")
        self.assertClean("symbols.py", "--shared-lib", "lib.so", "--nm", good)
        bad = self.fake_nm("0000000000000000 A PF_0.1\n"
                           "0000000000001100 T pf_a@@PF_0.1\n"
                           "0000000000001300 T ring_leak@@PF_0.1\n"
                           "0000000000004000 D pf_table@@PF_0.1\n")
        self.assertFindings("symbols.py", [
            ("lib.so", 0, "ring_leak is exported but not listed"),
            ("lib.so", 0, "pf_table is exported but not listed"),
            ("core/libpflight.map", 4, "pf_fail is listed here but not exported by lib.so"),
        ], "--skip-sources", "--shared-lib", "lib.so", "--nm", bad)

    @unittest.skipUnless(shutil.which("cc") and shutil.which("nm"), "needs cc and nm")
    def test_shared_lib_real(self):
        self.tree({"include/pflight/x.h": SYM_HEADER, "core/x.c": SYM_SOURCE,
                   "core/libpflight.map": SYM_MAP})
        lib = self.root / "libx.so"
        subprocess.run(["cc", "-shared", "-fPIC", "-fvisibility=hidden",
                        f"-I{self.root}/include", f"-Wl,--version-script={self.root}/core/"
                        "libpflight.map", "-o", str(lib), str(self.root / "core/x.c")],
                       check=True)
        self.assertClean("symbols.py", "--skip-sources", "--shared-lib", lib)


class Layers(Fixture):
    def test_good(self):
        self.tree({"shm/a.h": '#include "pf_config.h"\n#include "shm/b.h"\n',
                   "core/a.c": '#include "shm/a.h"\n#include "core/a.h"\n'
                               '#include "pflight/audit.h"\n',
                   "net/a.c": '#include "core/a.h"\n',
                   "ctl/a.c": '#include "core/a.h"\n#include "ctl/a.h"\n#include <yaml.h>\n',
                   "tools/x/a.c": '#include "ctl/a.h"\n#include "net/json.h"\n',
                   "include/pflight/a.h": '#include "pflight/common.h"\n'})
        self.assertClean("layers.py")

    def test_bad(self):
        self.tree({"shm/a.h": '#include "core/layout.h"\n',
                   "core/a.c": '#include "shm/a.h"\n# include "ctl/sim_impl.h"\n'
                               '#include "net/json.h"\n',
                   "net/a.c": '/* one */\n/* two */\n#include "ctl/a.h"\n',
                   "ctl/a.c": '#include "tools/pflightd/log.h"\n',
                   "include/pflight/a.h": '#include "shm/pf_atomic.h"\n'})
        self.assertFindings("layers.py", [
            ("shm/a.h", 1, "shm/ includes core/layout.h: core/ is a layer above"),
            ("core/a.c", 2, "core/ includes ctl/sim_impl.h: ctl/ is a layer above"),
            ("core/a.c", 3, "core/ includes net/json.h: net/ is a layer above"),
            ("net/a.c", 3, "net/ includes ctl/a.h: ctl/ is a layer above"),
            ("ctl/a.c", 1, "ctl/ includes tools/pflightd/log.h: tools/ is a layer above"),
            ("include/pflight/a.h", 1, "public header includes shm/pf_atomic.h"),
        ])


def func(name, lines, static=False):
    """A C function whose braces span exactly `lines` lines (opening brace line first)."""
    body = "\tx++;\n" * (lines - 2)
    return f"{'static ' if static else ''}void {name}(void)\n{{\n{body}}}\n\n"


class FuncLength(Fixture):
    ALLOW = "tools/lint/func_length_allow.txt"

    def test_good(self):
        self.tree({
            "core/a.c": "int x;\n" + func("at_limit", 70) + func("listed", 90, True),
            "tests/t.c": func("long_test_is_not_scanned", 200),
            self.ALLOW: "# comment\ncore/a.c:listed:90\n",
        })
        self.assertClean("func_length.py")

    def test_bad(self):
        self.tree({
            "core/a.c": "int x;\n" + func("new_long", 71) + func("grew", 81),
            "shm/b.c": func("shrank", 75) + func("now_short", 20),
            "tools/t/c.c": func("fine", 10),
            self.ALLOW: "core/a.c:grew:80\nshm/b.c:shrank:76\nshm/b.c:now_short:72\n"
                        "net/gone.c:vanished:99\nbroken line\n",
        })
        out = self.assertFindings("func_length.py", [
            ("core/a.c", 2, "new_long() is 71 lines (limit 70)"),
            ("core/a.c", 75, "grew() grew to 81 lines (allowed 80"),
            ("shm/b.c", 1, "note: shrank() shrank to 75 lines; lower its entry"),
            ("shm/b.c", 78, "note: now_short() is now 20 lines"),
            (self.ALLOW, 0, "note: net/gone.c:vanished no longer exists"),
            (self.ALLOW, 5, "malformed entry"),
        ])
        self.assertTrue(out[0].startswith(self.ALLOW + ":5:"), "failures print before notes")

    def test_notes_alone_pass(self):
        self.tree({"core/a.c": func("shrank", 75), self.ALLOW: "core/a.c:shrank:76\n"})
        rc, out, _ = run("func_length.py", self.root)
        self.assertEqual(rc, 0)
        self.assertEqual(len(out), 1)
        self.assertIn("note:", out[0])

    def test_update(self):
        self.tree({"core/a.c": func("big", 71) + func("small", 5),
                   "net/n.c": func("bigger", 100)})
        rc, _, _ = run("func_length.py", self.root, "--update")
        self.assertEqual(rc, 0)
        lines = [ln for ln in (self.root / self.ALLOW).read_text().splitlines()
                 if not ln.startswith("#")]
        self.assertEqual(lines, ["core/a.c:big:71", "net/n.c:bigger:100"])
        self.assertClean("func_length.py")


@unittest.skipUnless(shutil.which("clang-format") or shutil.which("clang-format-14"),
                     "clang-format not installed")
class FormatCheck(Fixture):
    def setUp(self):
        super().setUp()
        shutil.copy(REPO / ".clang-format", self.root / ".clang-format")

    def test_good(self):
        self.tree({"core/a.c": "int f(int x)\n{\n\tif (x)\n\t\treturn 1;\n\treturn 0;\n}\n",
                   "core/build/ugly.c": "int   f( ){return 0;}\n",
                   "include/pflight/v.h.in": "#define V @V@\n"})
        self.assertClean("format_check.py")

    def test_bad(self):
        self.tree({"core/a.c": "int f(int x)\n{\n\tif (x)\n\t\treturn 1;\n\treturn 0;\n}\n",
                   "shm/b.h": "/* fine */\nint g(void);\nint   h( void ) ;\n",
                   "tests/c.c": "int f(void) {\n  return 0;\n}\n"})
        self.assertFindings("format_check.py", [
            ("shm/b.h", 3, "not clang-format clean"),
            ("tests/c.c", 1, "not clang-format clean"),
        ])

    def test_missing_tool_skips(self):
        self.tree({"core/a.c": "int   f( ){return 0;}\n"})
        env = {k: v for k, v in os.environ.items() if k != "CLANG_FORMAT"}
        env["PATH"] = str(self.root / "empty-path")
        rc, out, _ = run("format_check.py", self.root, env=env)
        self.assertEqual(rc, 77)
        self.assertIn("clang-format not found", out[0])


def ar_archive(members, thin=False):
    """Bytes of a GNU ar archive (long names through the // table)."""
    longnames = b"".join(m.encode() + b"/\n" for m in members)
    out = [b"!<thin>\n" if thin else b"!<arch>\n"]

    def hdr(name, size):
        return f"{name:<16}{0:<12}{0:<6}{0:<6}{644:<8}{size:<10}`\n".encode()

    out += [hdr("//", len(longnames)), longnames + (b"\n" if len(longnames) & 1 else b"")]
    off = 0
    for m in members:
        data = b"" if thin else b"\x7fELF"
        out += [hdr(f"/{off}", len(b"\x7fELF")), data]
        off += len(m) + 2
    return b"".join(out)


class HeaderObjects(Fixture):
    NAMES = ["pflight.h", "version.h"]
    OBJS = ["libheader_check_c.a.p/meson-generated_.._hdr_pflight_h.c.o",
            "libheader_check_c.a.p/meson-generated_.._hdr_version_h.c.o"]

    def check(self, data, names):
        lib = self.root / "lib.a"
        lib.write_bytes(data)
        r = subprocess.run([sys.executable, str(HERE / "header_objects.py"), str(lib), *names],
                           capture_output=True, text=True)
        return r.returncode, r.stdout

    def test_good(self):
        for thin in (False, True):
            self.assertEqual(self.check(ar_archive(self.OBJS, thin), self.NAMES), (0, ""))

    def test_bad(self):
        rc, out = self.check(ar_archive(self.OBJS[:1]), self.NAMES)
        self.assertEqual(rc, 1)
        self.assertEqual(out.count("\n"), 1)
        self.assertIn("no object for version.h", out)
        rc, out = self.check(b"not an archive", self.NAMES)
        self.assertEqual(rc, 1)
        self.assertIn("cannot read archive", out)


MAN_TABLE = r"""
/* fixture tools/pflight/help.c: a ".name = " inside a string is text, not a field. */
const struct cli_command cli_commands[] = {
	{
		.name = "status",
		.usage = "status",
		.about = "says .name = \"ghost\" in prose",
		.options = "",
		.run = cmd_status,
	},
	{
		.name = "vnodes",
		.usage = "vnodes [--state S] [--limit N]",
		.options = "--state S\tonly VNodes in state S\n"
			   "--limit N\tat most N rows\n",
		.run = cmd_vnodes,
	},
	{
		.name = "drain",
		.options = "--no-wait\tcordon and return\n",
		.run = cmd_drain,
	},
};
"""

MAN_PAGE = r"""
.TH PFLIGHT 1
.SH NAME
pflight \- fixture
.SH DESCRIPTION
.SS notacommand
Outside COMMANDS: not checked.
.SH COMMANDS
.SS status
.B pflight status
.SS vnodes
.RB [ \-\-state
.IR S ]
.TP
.BI \-\-limit " N"
rows
.SS drain
.B \-\-no\-wait
.SH EXIT STATUS
.SS ghost
Outside COMMANDS again.
"""


class ManCommands(Fixture):
    def test_good(self):
        self.tree({"tools/pflight/help.c": MAN_TABLE, "docs/pflight.1": MAN_PAGE})
        self.assertClean("man_commands.py")

    def test_bad(self):
        page = (D(MAN_PAGE).replace(".SS drain\n", ".SS migrate\n")
                .replace(".BI \\-\\-limit", ".BI \\-\\-limits"))
        self.tree({"tools/pflight/help.c": MAN_TABLE, "docs/pflight.1": page})
        self.assertFindings("man_commands.py", [
            ("tools/pflight/help.c", 18, "command 'drain' is missing from docs/pflight.1"),
            ("docs/pflight.1", 10, "'.SS vnodes' does not mention its option --limit"),
            ("docs/pflight.1", 16, "'.SS migrate' documents a command that "
                                   "tools/pflight/help.c does not have"),
        ])

    def test_missing_files(self):
        self.tree({"tools/pflight/help.c": MAN_TABLE})
        self.assertFindings("man_commands.py", [
            ("docs/pflight.1", 1, "cannot read the man page"),
        ])
        self.assertFindings("man_commands.py", [
            ("tools/pflight/other.c", 1, "cannot read the command table"),
        ], "--table", "tools/pflight/other.c")
        self.tree({"tools/pflight/empty.c": "int x;\n"})
        self.assertFindings("man_commands.py", [
            ("tools/pflight/empty.c", 1, "no cli_commands[] table"),
        ], "--table", "tools/pflight/empty.c")


SEC_TEST = """
static void test_one(void **state)
{
}

static void case_two(void)
{
}
"""

SEC_DOC = """
# Threat model
- A claim (tests/unit/x/test_a.c `test_one`; test_a.c `case_two`).
- Corpus (tests/fuzz/400-*.http).
"""


class SecurityRefs(Fixture):
    def test_good(self):
        self.tree({"tests/unit/x/test_a.c": SEC_TEST, "tests/fuzz/400-nul.http": "GET /\n",
                   "docs/security.md": SEC_DOC})
        self.assertClean("security_refs.py")

    def test_bad(self):
        doc = (D(SEC_DOC).replace("`test_one`", "`test_gone`")
               .replace("`case_two`", "`case_three`").replace("400-*", "500-*"))
        self.tree({"tests/unit/x/test_a.c": SEC_TEST, "docs/security.md": doc})
        self.assertFindings("security_refs.py", [
            ("docs/security.md", 2, "`test_gone`: no such test function"),
            ("docs/security.md", 2, "`case_three`: not a function of test_a.c"),
            ("docs/security.md", 3, "tests/fuzz/500-*.http: no such file"),
        ])

    def test_missing_doc(self):
        self.tree({"tests/unit/x/test_a.c": SEC_TEST})
        self.assertFindings("security_refs.py", [
            ("docs/security.md", 1, "the threat model is missing"),
        ])


class OwnerWords(Fixture):
    def test_good(self):
        self.tree({
            "core/ownership.c": """
                int own_place(struct pf_domain *d, unsigned id, unsigned long w)
                {
                	pf_store_relaxed(&d->own[id], w);
                	d->own[id] = w;
                	return pf_cas_acq_rel(&d->vnodes[id].ckpt, &w, w + 1);
                }
                """,
            "core/vnode.c": """
                /* pf_cas_acq_rel(&d->own[id], ...) in prose is fine */
                unsigned long peek(struct pf_domain *d, unsigned id)
                {
                	unsigned long w = pf_load_acquire(&d->own[id]);
                	struct dom_vnode *v = &d->vnodes[id]; /* the record, not the word */
                	d->ckpt = 0; /* the arena's base, not the descriptor */
                	own[3] = own[4]; /* a local array of that name */
                	w += pf_load_relaxed(d->own + id) + (w & d->own[id]) + ((w) & 1);
                	w += pf_load_acquire(&v->ckpt) + pf_load_relaxed(&d->ckpt_hold[id]);
                	return w + pf_load_relaxed(&d->vnodes[id].ckpt);
                }
                """,
            "core/checkpoint.c": """
                void give_back(struct pf_domain *d, unsigned b)
                {
                	_Atomic unsigned long *hw = &d->ckpt_hold[b];

                	pf_store_release(hw, 0);
                }
                """,
            "tests/unit/core/test_corrupt.c": """
                void corrupt(struct pf_domain *d) { d->own[0] = 7; }
                """,
            "tools/examples/worker.c": """
                /* a worker's own table, named own: the public API has no domain layout */
                int grow(struct table *h) { return adopt(&h->own[h->count]); }
                """,
        })
        self.assertClean("owner_words.py")

    def test_bad(self):
        self.tree({
            "core/sched.c": """
                void undo(struct pf_domain *d, unsigned id, unsigned long w)
                {
                	(void)pf_cas_acq_rel(&d->own[id], &w,
                			     w + 1);
                	pf_store_release(&s->d->own[ id ], w);
                	s->d->own[id] = w;
                	(void)pf_cas_release(&d->vnodes[id].ckpt, &w, w);
                	pf_fetch_add_relaxed(&v->ckpt, 1);
                	d->vnodes[id].ckpt = w;
                	(void)pf_cas_relaxed(&v->move_req, &w, 1);
                	d->vnodes[id].move_req = 0;
                }
                """,
            "core/rebalance.c": """
                void ask(struct pf_domain *d, unsigned id, unsigned long w)
                {
                	(void)pf_cas_relaxed(&d->vnodes[id].move_req, &w, w | 1);
                }
                """,
            "core/wait.c": """
                _Atomic unsigned long *alias(struct pf_domain *d, unsigned id, unsigned b)
                {
                	_Atomic unsigned long *ow = &d->own[id];
                	_Atomic unsigned long *c = &d->vnodes[id].ckpt;

                	pf_store_release(ow, 0);
                	(void)pf_cas_acq_rel(d->own + id, &w, w + 1);
                	pf_store_release(&m->d->ckpt_hold[b], 0);
                	c = (_Atomic unsigned long *)&d->ckpt_hold[b];
                	return d->ckpt_hold + b;
                }
                """,
            "ctl/sim.c": """
                void undo(struct pf_domain *d) { pf_store_relaxed(&d->own[0], 0); }
                """,
            "bench/bench_x.c": """
                void undo(struct pf_domain *d) { d->own[0] = 0; }
                """,
        })
        self.assertFindings("owner_words.py", [
            ("core/sched.c", 3, "writes the VNode ownership word"),
            ("core/sched.c", 5, "writes the VNode ownership word"),
            ("core/sched.c", 6, "assigns the VNode ownership word"),
            ("core/sched.c", 7, "writes the checkpoint descriptor"),
            ("core/sched.c", 8, "writes the checkpoint descriptor"),
            ("core/sched.c", 9, "assigns the checkpoint descriptor"),
            ("core/wait.c", 3, "takes the address of the VNode ownership word"),
            ("core/wait.c", 4, "takes the address of the checkpoint descriptor"),
            ("core/wait.c", 7, "writes the VNode ownership word"),
            ("core/wait.c", 8, "writes a checkpoint buffer's holder word"),
            ("core/wait.c", 9, "takes the address of a checkpoint buffer's holder word"),
            ("core/wait.c", 10, "takes the address of a checkpoint buffer's holder word"),
            ("ctl/sim.c", 1, "writes the VNode ownership word"),
            ("bench/bench_x.c", 1, "assigns the VNode ownership word"),
            ("core/sched.c", 10, "writes the move request"),
            ("core/sched.c", 11, "assigns the move request"),
        ])


class RealTree(unittest.TestCase):
    """The checkers must not crash on the repository itself (findings are allowed)."""

    def test_runs(self):
        for script in ["forbidden_tokens.py", "barrier_tags.py", "symbols.py",
                       "func_length.py", "man_commands.py", "owner_words.py", "layers.py"]:
            rc, out, err = run(script, REPO)
            self.assertIn(rc, (0, 1), f"{script}: {err}")
            self.assertEqual(err, "", script)
            for line in out:
                self.assertRegex(line, r"^[^:]+:\d+: \S", script)


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    unittest.main(verbosity=2)
