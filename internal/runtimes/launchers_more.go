package runtimes

// PHPLauncher returns launcher.php, the php counterpart of launcher.py
// (OpenWhisk's php conventions: index.php, main of an array returning an
// array). It is run with PHPFlags.
func PHPLauncher() []byte { return mustRead("launchers/launcher.php") }

// RubyLauncher returns launcher.rb, the ruby counterpart of launcher.py
// (OpenWhisk's ruby conventions: main.rb, main of a Hash returning a Hash).
func RubyLauncher() []byte { return mustRead("launchers/launcher.rb") }

// JavaLauncher returns the source of JavaLauncherClass, the java
// counterpart of launcher.py (OpenWhisk's java conventions: a jar, main
// "Class" or "Class#method" of a Gson JsonObject returning one). It is
// compiled against Gson (GsonJar) before use; its init message's "file" is
// the action's jar.
func JavaLauncher() []byte { return mustRead("launchers/WhirlLauncher.java") }

// JavaLauncherClass is the class JavaLauncher defines (no package).
const JavaLauncherClass = "WhirlLauncher"

// GsonJar is where Debian's libgoogle-gson-java installs Gson, which java
// actions find on their class path as in OpenWhisk's image.
const GsonJar = "/usr/share/java/gson.jar"

// PHPFlags are the php command's settings for the launcher, OpenWhisk's
// php.ini in flags: errors logged (to stderr), not displayed; no memory or
// time limit of PHP's own (the container's cgroup and the action's timeout
// bound them); environment variables in $_ENV.
var PHPFlags = []string{
	"-d", "display_errors=Off", "-d", "log_errors=On", "-d", "error_log=",
	"-d", "error_reporting=E_ALL", "-d", "memory_limit=-1", "-d", "max_execution_time=0",
	"-d", "variables_order=EGPCS", "-d", "html_errors=Off", "-d", "output_buffering=Off",
}

// RubyFlags are the ruby command's flags for the launcher: no RubyGems
// loaded at start (~40 ms; an action's vendored gems are on the load path)
// nor did_you_mean, and warnings off.
var RubyFlags = []string{"--disable-gems", "--disable-did_you_mean", "-W0"}
