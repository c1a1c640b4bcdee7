package io.metako.server.chaos;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A hostile client in a process of its own (it needs more file descriptors than a test JVM has): opens {@code count}
 * sockets to {@code host:port} as fast as the kernel takes them, from 64 loopback source addresses, and either stays
 * silent on each or sends one StartupMessage ({@code startup}) and then nothing. It holds them for {@code seconds},
 * counting what the server does to them, then closes them all. Every second, and at the end, it prints
 * {@code flood connected=N failed=N closed=N codes={SQLSTATE=count, ...} done=false|true}.
 *
 * <p>{@code java ... SocketFlood HOST PORT COUNT silent|startup SECONDS}
 */
public final class SocketFlood {
    private SocketFlood() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int count = Integer.parseInt(args[2]);
        boolean startup = args[3].equals("startup");
        long until = System.nanoTime() + Long.parseLong(args[4]) * 1_000_000_000L;
        InetSocketAddress target = new InetSocketAddress(host, port);
        Selector selector = Selector.open();
        List<SocketChannel> all = new ArrayList<>(count);
        int connected = 0;
        int failed = 0;
        int closed = 0;
        Map<String, Integer> codes = new TreeMap<>();
        int opened = 0;
        long nextReport = System.nanoTime();
        ByteBuffer read = ByteBuffer.allocate(8192);
        while (System.nanoTime() < until) {
            // open in batches so that the selector keeps up with answers
            for (int b = 0; b < 500 && opened < count; b++, opened++) {
                SocketChannel ch = SocketChannel.open();
                ch.configureBlocking(false);
                ch.bind(new InetSocketAddress("127.0.0." + (2 + opened % 64), 0));
                all.add(ch);
                if (ch.connect(target)) {
                    connected++;
                    sendStartup(ch, startup);
                    ch.register(selector, SelectionKey.OP_READ);
                } else {
                    ch.register(selector, SelectionKey.OP_CONNECT);
                }
            }
            selector.select(50);
            for (SelectionKey k : selector.selectedKeys()) {
                SocketChannel ch = (SocketChannel) k.channel();
                boolean connecting = k.isValid() && k.isConnectable();
                try {
                    if (connecting) {
                        ch.finishConnect();
                        connected++;
                        sendStartup(ch, startup);
                        k.interestOps(SelectionKey.OP_READ);
                    } else if (k.isValid() && k.isReadable()) {
                        read.clear();
                        int n = ch.read(read);
                        if (n > 0) {
                            String code = errorCode(read.array(), read.position());
                            if (code != null) {
                                codes.merge(code, 1, Integer::sum);
                            }
                        }
                        if (n < 0) {
                            closed++;
                            k.cancel();
                            ch.close();
                        }
                    }
                } catch (IOException e) {
                    k.cancel();
                    ch.close();
                    if (connecting) {
                        failed++;
                    } else {
                        closed++;
                    }
                }
            }
            selector.selectedKeys().clear();
            if (System.nanoTime() >= nextReport) {
                report(connected, failed, closed, codes, false);
                nextReport = System.nanoTime() + 1_000_000_000L;
            }
        }
        report(connected, failed, closed, codes, true);
        for (SocketChannel ch : all) {
            ch.close();
        }
    }

    private static void sendStartup(SocketChannel ch, boolean startup) throws IOException {
        if (startup) {
            byte[] body = "\0\3\0\0user\0flood\0database\0postgres\0\0".getBytes(StandardCharsets.ISO_8859_1);
            ByteBuffer msg = ByteBuffer.allocate(4 + body.length).putInt(4 + body.length).put(body).flip();
            ch.write(msg);
        }
    }

    /**
     * The SQLSTATE of an ErrorResponse at the start of {@code b}, if it is one, with {@code /proxy} appended when its
     * message names a {@code proxy.} setting (the proxy refused it, not a node).
     */
    private static String errorCode(byte[] b, int length) {
        if (length < 6 || b[0] != 'E') {
            return null;
        }
        String code = null;
        boolean proxy = false;
        for (int i = 5; i < length - 1; ) {
            byte field = b[i];
            if (field == 0) {
                break;
            }
            int end = i + 1;
            while (end < length && b[end] != 0) {
                end++;
            }
            String value = new String(b, i + 1, end - i - 1, StandardCharsets.UTF_8);
            if (field == 'C') {
                code = value;
            } else if (field == 'M') {
                proxy = value.contains("proxy.");
            }
            i = end + 1;
        }
        return code == null ? null : proxy ? code + "/proxy" : code;
    }

    private static void report(int connected, int failed, int closed, Map<String, Integer> codes, boolean done) {
        System.out.println("flood connected=" + connected + " failed=" + failed + " closed=" + closed + " codes=" + codes
                + " done=" + done);
        System.out.flush();
    }
}
