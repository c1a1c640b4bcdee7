package io.metako.server.chaos;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A round's timeline as an SVG picture, so a person can see what happened: per node, the writes it
 * acknowledged (bars per 100 ms); a row of failed and unknown writes; the faults and the epochs
 * as labelled vertical lines.
 */
final class TimelineSvg {
    private static final long BUCKET_MILLIS = 100;
    private static final int WIDTH = 1400;
    private static final int LEFT = 110;
    private static final int ROW = 60;
    private static final int TOP = 64;

    private TimelineSvg() {
    }

    static void write(Path file, String title, Scenario.Timeline t, List<Op> history, List<String> nodes,
                      Map<Long, Long> epochsSeen) throws IOException {
        long start = t.startMillis();
        long end = Math.max(history.stream().mapToLong(Op::endMillis).max().orElse(start),
                t.marks().stream().mapToLong(Scenario.Timeline.Mark::atMillis).max().orElse(start)) + 500;
        double perMilli = (WIDTH - LEFT - 20) / (double) Math.max(1, end - start);
        int rows = nodes.size() + 1;
        int height = TOP + rows * ROW + 160;
        StringBuilder s = new StringBuilder();
        s.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(WIDTH).append("\" height=\"").append(height)
                .append("\" font-family=\"monospace\" font-size=\"11\">\n");
        s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        String[] titleLines = title.split(" \\| ", 2); // the scenario and its first figures, then the rest
        for (int i = 0; i < titleLines.length; i++) {
            s.append(text(10, 18 + 16 * i, escape(titleLines[i]), "black", 12));
        }
        for (int r = 0; r < rows; r++) {
            int base = TOP + (r + 1) * ROW;
            String label = r < nodes.size() ? nodes.get(r) + " acks" : "failed/unknown";
            s.append(text(5, base - ROW / 2, label, "black", 11));
            s.append(String.format("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>%n", LEFT, base, WIDTH - 20, base));
        }
        for (int r = 0; r < nodes.size(); r++) {
            String node = nodes.get(r);
            bars(s, buckets(history.stream().filter(o -> o.outcome() == Op.Outcome.OK && o.node().equals(node)).toList(), start),
                    start, perMilli, TOP + (r + 1) * ROW, "#2b7bba");
        }
        int failedBase = TOP + rows * ROW;
        bars(s, buckets(history.stream().filter(o -> o.outcome() == Op.Outcome.FAILED).toList(), start), start, perMilli,
                failedBase, "#e08a00");
        bars(s, buckets(history.stream().filter(o -> o.outcome() == Op.Outcome.UNKNOWN).toList(), start), start, perMilli,
                failedBase, "#c00000");
        int bottom = TOP + rows * ROW;
        int labelRow = 0;
        for (Scenario.Timeline.Mark m : t.marks()) {
            double x = LEFT + (m.atMillis() - start) * perMilli;
            s.append(String.format("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#900\" stroke-dasharray=\"4,3\"/>%n",
                    x, TOP, x, bottom + 20 + 14 * (labelRow % 8)));
            String label = String.format("+%.1fs %s", (m.atMillis() - start) / 1000.0, escape(m.text()));
            boolean right = x > WIDTH * 0.6; // labels of late events end at their line, so they stay on the picture
            s.append(String.format("<text x=\"%.1f\" y=\"%d\" fill=\"#900\" font-size=\"11\"%s>%s</text>%n",
                    right ? x - 2 : x + 2, bottom + 30 + 14 * (labelRow % 8), right ? " text-anchor=\"end\"" : "", label));
            labelRow++;
        }
        for (var e : epochsSeen.entrySet()) {
            double x = LEFT + Math.max(0, e.getValue() - start) * perMilli;
            s.append(String.format("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#070\"/>%n", x, TOP - 5, x, bottom));
            s.append(text(x + 2, TOP - 8, "epoch " + e.getKey(), "#070", 11));
        }
        s.append(text(LEFT, height - 8, "time since the round started; bars: writes per 100 ms (blue acknowledged, orange failed,"
                + " red unknown); dashed: faults; green: first instance to report an epoch", "#444", 10));
        s.append("</svg>\n");
        Files.writeString(file, s.toString());
    }

    private static Map<Long, Integer> buckets(List<Op> ops, long start) {
        Map<Long, Integer> out = new TreeMap<>();
        ops.forEach(o -> out.merge((o.endMillis() - start) / BUCKET_MILLIS, 1, Integer::sum));
        return out;
    }

    private static void bars(StringBuilder s, Map<Long, Integer> buckets, long start, double perMilli, int base, String color) {
        int max = Math.max(1, buckets.values().stream().mapToInt(Integer::intValue).max().orElse(1));
        double w = Math.max(1, BUCKET_MILLIS * perMilli);
        for (var b : buckets.entrySet()) {
            double h = Math.max(2, (ROW - 12) * b.getValue() / (double) max);
            s.append(String.format("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>%n",
                    LEFT + b.getKey() * BUCKET_MILLIS * perMilli, base - h, w, h, color));
        }
    }

    private static String text(double x, double y, String text, String color, int size) {
        return String.format("<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\" font-size=\"%d\">%s</text>%n", x, y, color, size, text);
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
