<?php
// Whirl's php launcher: speaks the action-loop protocol on pipes, as
// launcher.py does. Once PHP has started it writes the ready line
// {"ready":true} on fd 3. The first stdin line is then the init message
// ({"file", "main", "env", "dir"}); then one line per activation
// ({"value": {...}, "activation_id": ...}). Results go to fd 3, one JSON
// line each; after each, the log sentinel is written on stdout and stderr.
//
// As in OpenWhisk's php runtime: the code is index.php (a zip's, with its
// vendor/autoload.php when present), main names a function (or a static
// method) of an array returning an array; a returned object is turned into
// an array when it can be, null into {}; the __OW_* variables are in
// getenv() and $_ENV; an exception is logged and answers
// "An error occurred running the action.".

const WHIRL_SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n";

$__whirl_out = fopen('php://fd/3', 'wb');

function __whirl_finish(string $body): void
{
    global $__whirl_out;
    fwrite($__whirl_out, $body . "\n");
    fflush($__whirl_out);
    fwrite(STDOUT, WHIRL_SENTINEL);
    fflush(STDOUT);
    fwrite(STDERR, WHIRL_SENTINEL);
    fflush(STDERR);
}

function __whirl_setenv(string $k, $v): void
{
    $v = is_string($v) ? $v : json_encode($v);
    putenv($k . '=' . $v);
    $_ENV[$k] = $v;
}

function __whirl_error(string $message): string
{
    return json_encode(['error' => $message], JSON_UNESCAPED_SLASHES);
}

$__whirl_running = false;
register_shutdown_function(static function () {
    global $__whirl_running;
    $e = error_get_last();
    if ($__whirl_running && $e && in_array($e['type'], [E_ERROR, E_CORE_ERROR, E_COMPILE_ERROR, E_USER_ERROR], true)) {
        fwrite(STDERR, "An error occurred running the action.\n");
        __whirl_finish(__whirl_error('An error occurred running the action.'));
    }
});

fwrite($__whirl_out, "{\"ready\":true}\n");
fflush($__whirl_out);

$__whirl_line = fgets(STDIN);
if ($__whirl_line === false) {
    exit(0);
}
try {
    $__whirl_init = json_decode($__whirl_line, true, 512, JSON_THROW_ON_ERROR);
    foreach ($__whirl_init['env'] ?? [] as $k => $v) {
        __whirl_setenv($k, $v);
    }
    chdir($__whirl_init['dir']);
    if (is_file('vendor/autoload.php')) {
        require_once 'vendor/autoload.php';
    }
    $__whirl_running = true;
    require_once $__whirl_init['file'];
    $__whirl_running = false;
    $__whirl_main = ($__whirl_init['main'] ?? '') ?: 'main';
    if (!is_callable($__whirl_main)) {
        throw new Error("action entry point '$__whirl_main' is not a function in the code");
    }
} catch (Throwable $e) {
    fwrite(STDERR, (string)$e . "\n");
    $__whirl_running = false;
    __whirl_finish(__whirl_error('Initialization has failed due to: ' . get_class($e) . ': ' . $e->getMessage()));
    exit(0);
}
unset($__whirl_init);
__whirl_finish('{"ok":true}');

while (($__whirl_line = fgets(STDIN)) !== false) {
    try {
        $__whirl_msg = json_decode($__whirl_line, true, 512, JSON_THROW_ON_ERROR);
        foreach ($__whirl_msg as $k => $v) {
            if ($k !== 'value') {
                __whirl_setenv('__OW_' . strtoupper($k), $v);
            }
        }
        $__whirl_running = true;
        $__whirl_result = $__whirl_main($__whirl_msg['value'] ?? []);
        $__whirl_running = false;
        if (is_object($__whirl_result)) {
            if (method_exists($__whirl_result, 'getArrayCopy')) {
                $__whirl_result = $__whirl_result->getArrayCopy();
            } elseif ($__whirl_result instanceof stdClass) {
                $__whirl_result = (array)$__whirl_result;
            }
        } elseif ($__whirl_result === null) {
            $__whirl_result = [];
        }
        if (is_array($__whirl_result)) {
            // Cast to an object, as OpenWhisk does: an empty array is {}.
            $__whirl_body = json_encode((object)$__whirl_result, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
        } else {
            fwrite(STDERR, 'Result must be an array but has type "' . gettype($__whirl_result) . '"' . "\n");
            $__whirl_body = json_encode($__whirl_result, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR);
        }
    } catch (Throwable $e) {
        $__whirl_running = false;
        fwrite(STDERR, (string)$e . "\n");
        $__whirl_body = __whirl_error('An error occurred running the action.');
    }
    __whirl_finish($__whirl_body);
}
