# Whirl's python launcher: speaks the action-loop protocol on pipes.
# The first stdin line is the init message ({"file", "main", "env", "path"});
# then one line per activation ({"value": {...}, "activation_id": ...}).
# Results go to fd 3, one JSON line each; after each, the log sentinel is
# written on stdout and stderr.
import importlib.util
import json
import os
import sys
import traceback

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"
EXIT_MEMORY = 86


def finish(out, body):
    out.write(body + "\n")
    out.flush()
    try:
        sys.stdout.write(SENTINEL)
        sys.stdout.flush()
    except Exception:
        pass
    sys.stderr.write(SENTINEL)
    sys.stderr.flush()


def load(init):
    for k, v in (init.get("env") or {}).items():
        os.environ[k] = v if isinstance(v, str) else json.dumps(v)
    sys.path[:0] = init.get("path") or []
    d = init.get("dir")
    if d:
        os.chdir(d)
    name = init.get("main") or "main"
    spec = importlib.util.spec_from_file_location("main__", init["file"])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["main__"] = mod
    spec.loader.exec_module(mod)
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise LookupError("action entry point '%s' is not a function in the code" % name)
    return fn


def main():
    out = os.fdopen(3, "w", encoding="utf-8")
    stdin = sys.stdin.buffer
    line = stdin.readline()
    if not line:
        return
    try:
        fn = load(json.loads(line))
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except Exception as e:
        traceback.print_exc()
        finish(out, json.dumps({"error": "Initialization has failed due to: %s: %s" % (type(e).__name__, e)}))
        return
    finish(out, '{"ok":true}')
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            msg = json.loads(line)
            value = msg.pop("value", {})
            for k, v in msg.items():
                os.environ["__OW_" + k.upper()] = v if isinstance(v, str) else json.dumps(v)
            res = fn(value)
            body = json.dumps(res, ensure_ascii=False)
        except MemoryError:
            os._exit(EXIT_MEMORY)
        except Exception as e:
            traceback.print_exc()
            body = json.dumps({"error": str(e)})
        finish(out, body)


main()
