// The service of the java-pool and java-urlconn chains:
// com.sun.net.httpserver.HttpServer on a fixed pool of 4 threads; the handler
// for /front/N calls an HTTP backend twice, one call after the other
// (GET /b1/ID, then GET /b2/ID), by MODE:
//
//   httpclient: with one shared java.net.http.HttpClient forced to HTTP/1.1
//               and its blocking send() (the client's own threads write)
//   urlconn:    with java.net.HttpURLConnection: keep-alive (the JDK's
//               KeepAliveCache keeps up to http.maxConnections, 5, idle
//               connections per destination), the body read fully and the
//               stream closed, disconnect() not called, so the connection
//               goes back to the cache for the next call
//
// usage: java -cp DIR JavaSvc MODE IDS BIND PORT LEAF_HOST:PORT
//   IDS: plain (ID = N) | hashed (first 12 hex digits of sha1("b1:N"), ...)
// Compiled by bench/accuracy/run.py with javac at run time.

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.Executors;

public class JavaSvc {
    static String ids;
    static String leaf;
    static HttpClient client; // mode httpclient

    static String id(String tag, String n) throws Exception {
        if (ids.equals("plain")) return n;
        byte[] d = MessageDigest.getInstance("SHA-1").digest((tag + ":" + n).getBytes(StandardCharsets.UTF_8));
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 6; i++) sb.append(String.format("%02x", d[i] & 0xff));
        return sb.toString();
    }

    static int get(String url) throws Exception {
        if (client != null) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build();
            return client.send(req, HttpResponse.BodyHandlers.ofByteArray()).statusCode();
        }
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        c.setConnectTimeout(5000);
        c.setReadTimeout(10000);
        int status = c.getResponseCode();
        InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
        if (in != null) {
            try (InputStream body = in) {
                body.readAllBytes(); // read to the end: the connection goes back to the keep-alive cache
            }
        }
        return status;
    }

    static void front(HttpExchange ex) throws IOException {
        int status = 200;
        String path = ex.getRequestURI().getPath();
        try (InputStream in = ex.getRequestBody()) {
            in.readAllBytes();
        }
        try {
            String n = path.substring("/front/".length());
            for (String tag : new String[] {"b1", "b2"}) {
                if (get("http://" + leaf + "/" + tag + "/" + id(tag, n)) >= 500) status = 502;
            }
        } catch (Exception e) {
            System.err.println(path + ": " + e);
            status = 502;
        }
        byte[] body = (System.getenv("OTEL_SERVICE_NAME") + " " + path + " " + status + "\n")
                .getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain");
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        ids = args[1];
        leaf = args[4];
        if (mode.equals("httpclient")) {
            client = HttpClient.newBuilder()
                    .version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(5))
                    .build();
        } else if (!mode.equals("urlconn")) {
            System.err.println("JavaSvc: unknown mode " + mode);
            System.exit(2);
        }
        HttpServer server = HttpServer.create(new InetSocketAddress(args[2], Integer.parseInt(args[3])), 256);
        server.createContext("/front/", JavaSvc::front);
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
    }
}
