# Whirl's python launcher: speaks the action-loop protocol on pipes.
# Once the interpreter has started it writes the ready line {"ready":true}
# on fd 3. The first stdin line is then the init message ({"file", "main",
# "env", "path", "dir"}); then one line per activation ({"value": {...},
# "activation_id": ...}). Results go to fd 3, one JSON line each, written
# after stdout and stderr are flushed (no log sentinels: see finish).
#
# Start-up is on every cold start's path, so this file imports only what
# the interpreter has already loaded: JSON through the C accelerator
# (importing json costs ~7 ms: it compiles regular expressions), tracebacks
# only when something fails, and no importlib.util.
import os
import sys

EXIT_MEMORY = 86


def _codec():
    """Return (loads, dumps, dumps_ascii) built on _json when available."""
    try:
        import _json
    except ImportError:
        _json = None
    if _json is None or not hasattr(_json, "make_scanner") or not hasattr(_json, "make_encoder"):
        import json

        return json.loads, lambda o: json.dumps(o, ensure_ascii=False), json.dumps

    class _Ctx:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo = {}

        @staticmethod
        def parse_constant(name):
            return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]

    scan = _json.make_scanner(_Ctx)
    ws = " \t\n\r"

    def loads(s):
        if isinstance(s, (bytes, bytearray)):
            s = s.decode("utf-8")
        i, n = 0, len(s)
        while i < n and s[i] in ws:
            i += 1
        try:
            obj, end = scan(s, i)
        except StopIteration as e:
            import json

            raise json.JSONDecodeError("Expecting value", s, e.value) from None
        finally:
            _Ctx.memo.clear()
        while end < n and s[end] in ws:
            end += 1
        if end != n:
            import json

            raise json.JSONDecodeError("Extra data", s, end)
        return obj

    def default(o):
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    def encoder(ascii):
        # One C encoder per flavour, built once. Its markers (the circular
        # reference check) are cleared before each use: an encoding that
        # failed half-way leaves ids behind.
        markers = {}
        enc = _json.make_encoder(markers, default, _json.encode_basestring_ascii if ascii else _json.encode_basestring,
                                 None, ": ", ", ", False, False, True)

        def dumps(o):
            markers.clear()
            return "".join(enc(o, 0))

        return dumps

    codec = loads, encoder(False), encoder(True)
    try:
        if codec[0](codec[1]({"a": [1, 2.5, None, True, "\u00e9"]})) != {"a": [1, 2.5, None, True, "\u00e9"]}:
            raise ValueError("codec self-check")
    except Exception:
        import json

        return json.loads, lambda o: json.dumps(o, ensure_ascii=False), json.dumps
    return codec


loads, dumps, dumps_ascii = _codec()


def _activation_env():
    """Return setenv(name, value) for the per-activation __OW_* variables.

    os.environ[name] = value calls the C library's setenv, and glibc keeps
    every value it was ever given for the life of the process (~250 bytes
    per activation for the seven variables: a warm container grew by 50 MB
    over 200k activations). setenv instead writes os.environ's own mapping
    (what os.environ and os.getenv read), and copies the values into the C
    environment only when the action is about to start a process
    (subprocess, os.system, os.exec*, os.fork, os.posix_spawn: an audit
    hook sees each), with putenv on buffers this function owns and frees
    when the next value replaces them, so nothing accumulates. The cost:
    C code that reads the environment with getenv (an extension module)
    sees a variable's value as of the last process start, not the current
    activation's. Without os.environ._data or audit hooks (not CPython
    3.8+) it falls back to os.environ, leak included.
    """
    env = os.environ
    data = getattr(env, "_data", None)
    if not isinstance(data, dict) or not hasattr(env, "encodekey") or not hasattr(sys, "addaudithook"):
        return env.__setitem__
    encodekey, encodevalue = env.encodekey, env.encodevalue
    pending = {}  # encoded name -> value not yet in the C environment
    held = {}  # encoded name -> the buffer the C environment points to
    putenv = []  # [put(name, value)], made at the first process start
    spawn = frozenset(("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"))

    def make_put():
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            libc.putenv.argtypes = [ctypes.c_char_p]

            def put(k, v):
                buf = ctypes.create_string_buffer(k + b"=" + v)
                if libc.putenv(buf) == 0:
                    held[k] = buf  # the previous buffer is no longer pointed to

            return put
        except Exception:
            return os.putenv  # setenv: leaks, but only per process start

    def sync(event, args):
        if pending and event in spawn:
            if not putenv:
                putenv.append(make_put())
            for k, v in list(pending.items()):
                if data.get(k) is v:  # not changed or removed by the action since
                    putenv[0](k, v)
            pending.clear()

    sys.addaudithook(sync)

    def setenv(k, v):
        k, v = encodekey(k), encodevalue(v)
        if data.get(k) != v:
            data[k] = v
            pending[k] = v

    return setenv


setenv = _activation_env()


def finish(out, body):
    # Whatever the run printed goes into the pipes before its result: the
    # invoker takes, as the run's logs, everything the pipes held when
    # the result came (output written straight to fd 1 or 2, or by a
    # process that ended, is there already). No sentinels.
    try:
        sys.stdout.flush()
    except Exception:
        pass
    try:
        sys.stderr.flush()
    except Exception:
        pass
    out.write(body + "\n")
    out.flush()


def print_exc():
    import traceback

    traceback.print_exc()


def load(init):
    for k, v in (init.get("env") or {}).items():
        os.environ[k] = v if isinstance(v, str) else dumps_ascii(v)
    sys.path[:0] = init.get("path") or []
    d = init.get("dir")
    if d:
        os.chdir(d)
    name = init.get("main") or "main"
    file = init["file"]
    mod = type(sys)("main__")
    mod.__file__ = file
    sys.modules["main__"] = mod
    with open(file, "rb") as fh:
        src = fh.read()
    exec(compile(src, file, "exec"), mod.__dict__)
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise LookupError("action entry point '%s' is not a function in the code" % name)
    return fn


def site_paths():
    # Without site (-S) the system's package directories are still
    # importable, after the action's own paths; .pth files are not read.
    try:
        import site

        for p in site.getsitepackages():
            if p not in sys.path and os.path.isdir(p):
                sys.path.append(p)
    except Exception:
        pass


def main():
    out = os.fdopen(3, "w", encoding="utf-8")
    if sys.flags.no_site:
        site_paths()
    out.write('{"ready":true}\n')
    out.flush()
    stdin = sys.stdin.buffer
    line = stdin.readline()
    if not line:
        return
    try:
        fn = load(loads(line))
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except Exception as e:
        print_exc()
        finish(out, dumps_ascii({"error": "Initialization has failed due to: %s: %s" % (type(e).__name__, e)}))
        return
    finish(out, '{"ok":true}')
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            msg = loads(line)
            value = msg.pop("value", {})
            for k, v in msg.items():
                setenv("__OW_" + k.upper(), v if isinstance(v, str) else dumps_ascii(v))
            res = fn(value)
            body = dumps(res)
        except MemoryError:
            os._exit(EXIT_MEMORY)
        except Exception as e:
            print_exc()
            body = dumps_ascii({"error": str(e)})
        finish(out, body)


main()
