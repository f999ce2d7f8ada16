// Whirl's java launcher: speaks the action-loop protocol on pipes, as
// launcher.py does. Once the JVM has started and Gson is loaded it writes
// the ready line {"ready":true} on fd 3. The first stdin line is then the
// init message ({"file": the action's jar, "main": "Class" or
// "Class#method", "env", "dir"}); then one line per activation
// ({"value": {...}, "activation_id": ...}). Results go to fd 3, one JSON
// line each; after each, the log sentinel is written on stdout and stderr.
//
// As in OpenWhisk's java runtime, main names a class of the jar and, after
// '#', its method ("main" when absent), which must be
// public static JsonObject (or JsonArray) of a JsonObject (or JsonArray),
// Gson's types; Gson is on the class path and shared with the jar. The
// __OW_* variables of each activation are put into System.getenv().
//
// It is compiled once by Whirl (javac, against Debian's Gson) and is named
// so as not to meet a class of an action's jar.
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

public final class WhirlLauncher {
    private static final String SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";
    private static final int EXIT_MEMORY = 86;

    private static PrintWriter out;

    public static void main(String[] args) throws Exception {
        out = new PrintWriter(new OutputStreamWriter(resultStream(), StandardCharsets.UTF_8));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // Load what every activation uses before saying ready.
        JsonParser.parseString("{\"value\":{\"a\":[1,2.5,null,true,\"\u00e9\"]}}").getAsJsonObject().toString();
        out.println("{\"ready\":true}");
        out.flush();
        String line = in.readLine();
        if (line == null) {
            return;
        }
        Class<?> cls;
        String method;
        try {
            JsonObject init = JsonParser.parseString(line).getAsJsonObject();
            Map<String, String> env = new HashMap<>();
            if (init.has("env") && init.get("env").isJsonObject()) {
                for (Map.Entry<String, JsonElement> e : init.getAsJsonObject("env").entrySet()) {
                    env.put(e.getKey(), text(e.getValue()));
                }
            }
            setEnv(env);
            String main = init.get("main").getAsString();
            int hash = main.indexOf('#');
            method = hash >= 0 && hash + 1 < main.length() ? main.substring(hash + 1) : "main";
            String className = hash >= 0 ? main.substring(0, hash) : main;
            URL jar = new File(init.get("file").getAsString()).toURI().toURL();
            ClassLoader loader = new URLClassLoader(new URL[] {jar}, WhirlLauncher.class.getClassLoader());
            cls = Class.forName(className, true, loader);
            boolean found = false;
            for (Method m : cls.getDeclaredMethods()) {
                found |= m.getName().equals(method);
            }
            if (!found) {
                throw new NoSuchMethodException(method);
            }
            Thread.currentThread().setContextClassLoader(loader);
        } catch (OutOfMemoryError e) {
            Runtime.getRuntime().halt(EXIT_MEMORY);
            return;
        } catch (Throwable e) {
            e.printStackTrace(System.err);
            finish(error("An error has occurred (see logs for details): " + e));
            return;
        }
        finish("{\"ok\":true}");
        while ((line = in.readLine()) != null) {
            String body;
            try {
                body = run(cls, method, line);
            } catch (OutOfMemoryError e) {
                Runtime.getRuntime().halt(EXIT_MEMORY);
                return;
            } catch (InvocationTargetException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                if (cause instanceof OutOfMemoryError) {
                    Runtime.getRuntime().halt(EXIT_MEMORY);
                }
                cause.printStackTrace(System.err);
                body = error("An error has occurred while invoking the action (see logs for details): " + cause);
            } catch (Throwable e) {
                e.printStackTrace(System.err);
                body = error("An error has occurred (see logs for details): " + e);
            }
            finish(body);
        }
    }

    private static String run(Class<?> cls, String method, String line) throws Exception {
        JsonObject msg = JsonParser.parseString(line).getAsJsonObject();
        JsonElement value = msg.has("value") ? msg.get("value") : new JsonObject();
        Map<String, String> env = new HashMap<>();
        for (Map.Entry<String, JsonElement> e : msg.entrySet()) {
            if (!e.getKey().equals("value")) {
                env.put("__OW_" + e.getKey().toUpperCase(), text(e.getValue()));
            }
        }
        setEnv(env);
        Class<?> param = value.isJsonArray() ? JsonArray.class : JsonObject.class;
        Method m = cls.getMethod(method, param);
        int mod = m.getModifiers();
        if ((m.getReturnType() != JsonObject.class && m.getReturnType() != JsonArray.class) || !Modifier.isStatic(mod) || !Modifier.isPublic(mod)) {
            throw new NoSuchMethodException(method);
        }
        m.setAccessible(true);
        Object res = m.invoke(null, value.isJsonArray() ? value.getAsJsonArray() : value.isJsonObject() ? value.getAsJsonObject() : new JsonObject());
        if (res == null) {
            throw new NullPointerException("The action returned null");
        }
        return res.toString();
    }

    // resultStream returns fd 3, inherited from Whirl. In the sandbox its
    // pipe belongs to another uid, so /dev/fd/3 cannot be opened again:
    // the descriptor is used as it is (java.io opened to the launcher).
    private static FileOutputStream resultStream() throws Exception {
        try {
            FileDescriptor fd = new FileDescriptor();
            Field f = FileDescriptor.class.getDeclaredField("fd");
            f.setAccessible(true);
            f.setInt(fd, 3);
            return new FileOutputStream(fd);
        } catch (Exception e) {
            return new FileOutputStream("/dev/fd/3");
        }
    }

    private static String text(JsonElement v) {
        return v.isJsonPrimitive() ? v.getAsString() : v.toString();
    }

    private static String error(String message) {
        JsonObject o = new JsonObject();
        o.addProperty("error", message);
        return o.toString();
    }

    private static void finish(String body) {
        out.println(body);
        out.flush();
        System.out.println(SENTINEL);
        System.out.flush();
        System.err.println(SENTINEL);
        System.err.flush();
    }

    // setEnv adds variables to the map System.getenv() reads, as
    // OpenWhisk's runtime does (it needs java.util opened to the launcher).
    @SuppressWarnings("unchecked")
    private static void setEnv(Map<String, String> env) {
        if (env.isEmpty()) {
            return;
        }
        try {
            for (Class<?> c : Collections.class.getDeclaredClasses()) {
                if ("java.util.Collections$UnmodifiableMap".equals(c.getName())) {
                    Field f = c.getDeclaredField("m");
                    f.setAccessible(true);
                    ((Map<String, String>) f.get(System.getenv())).putAll(env);
                }
            }
        } catch (Exception e) {
            // Without access the variables are not set; the action still runs.
        }
    }
}
