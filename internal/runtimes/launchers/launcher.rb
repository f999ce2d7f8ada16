# Whirl's ruby launcher: speaks the action-loop protocol on pipes, as
# launcher.py does. Once Ruby has started it writes the ready line
# {"ready":true} on fd 3. The first stdin line is then the init message
# ({"file", "main", "env", "dir"}); then one line per activation
# ({"value": {...}, "activation_id": ...}). Results go to fd 3, one JSON
# line each; after each, the log sentinel is written on stdout and stderr.
#
# As in OpenWhisk's ruby runtime: the code is main.rb (a zip's, whose
# vendored gems under vendor/bundle are on the load path), main names a
# method of a Hash returning a Hash (or an Array); the __OW_* variables are
# in ENV; an exception answers {"error": its message}.
require "json"

WHIRL_SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"
WHIRL_EXIT_MEMORY = 86

def __whirl_finish(out, body)
  out.write(body, "\n")
  out.flush
  $stdout.flush
  STDOUT.write(WHIRL_SENTINEL)
  STDOUT.flush
  $stderr.flush
  STDERR.write(WHIRL_SENTINEL)
  STDERR.flush
end

def __whirl_text(v)
  v.is_a?(String) ? v : JSON.generate(v)
end

def __whirl_main
  out = IO.new(3, "w")
  out.write("{\"ready\":true}\n")
  out.flush
  line = STDIN.gets
  return unless line
  name = "main"
  begin
    init = JSON.parse(line)
    (init["env"] || {}).each { |k, v| ENV[k] = __whirl_text(v) }
    dir = init["dir"]
    if dir
      Dir.chdir(dir)
      $LOAD_PATH.unshift(dir)
      Dir.glob(File.join(dir, "vendor/bundle/ruby/*/gems/*/lib")).each { |p| $LOAD_PATH.unshift(p) }
    end
    name = init["main"].to_s
    name = "main" if name.empty?
    TOPLEVEL_BINDING.eval("load #{init["file"].dump}")
    unless TOPLEVEL_BINDING.receiver.respond_to?(name, true)
      raise NameError, "action entry point '#{name}' is not a method in the code"
    end
  rescue NoMemoryError
    exit!(WHIRL_EXIT_MEMORY)
  rescue Exception => e
    STDERR.puts(e.full_message(highlight: false))
    __whirl_finish(out, JSON.generate({ "error" => "Initialization has failed due to: #{e.class}: #{e.message}" }))
    return
  end
  __whirl_finish(out, '{"ok":true}')
  receiver = TOPLEVEL_BINDING.receiver
  while (line = STDIN.gets)
    begin
      msg = JSON.parse(line)
      value = msg.delete("value") || {}
      msg.each { |k, v| ENV["__OW_#{k.upcase}"] = __whirl_text(v) }
      body = JSON.generate(receiver.send(name, value))
    rescue NoMemoryError
      exit!(WHIRL_EXIT_MEMORY)
    rescue SystemExit
      raise
    rescue Exception => e
      STDERR.puts(e.full_message(highlight: false))
      body = JSON.generate({ "error" => e.message })
    end
    __whirl_finish(out, body)
  end
end

__whirl_main
