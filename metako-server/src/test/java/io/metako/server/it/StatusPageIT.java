package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * Headless Chromium (Debian's, through its chromedriver) opens an instance's status page over a real cluster: it
 * shows the three nodes and the primary; after a {@code kill -9} of the primary it shows the new primary and the
 * failed node within seconds, without a reload. A screenshot of each state is kept in
 * {@code metako-server/target/status-page/}.
 */
class StatusPageIT extends QuorumScenario {
    private static final Path SHOTS = Path.of("target", "status-page");

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s");
    }

    private static ChromeDriver chromium() {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(firstExisting("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"));
        // as root in a container: no sandbox; a small /dev/shm: use /tmp
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--no-default-browser-check");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(Path.of(firstExisting("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")).toFile())
                .usingAnyFreePort().build();
        return new ChromeDriver(service, options);
    }

    private static String firstExisting(String... paths) {
        for (String p : paths) {
            if (Files.isExecutable(Path.of(p))) {
                return p;
            }
        }
        throw new IllegalStateException("none of " + List.of(paths) + " is installed: apt-get install -y chromium"
                + " chromium-driver (.ci/run does)");
    }

    private static void screenshot(ChromeDriver d, String name) throws IOException {
        Files.createDirectories(SHOTS);
        Files.write(SHOTS.resolve(name), d.getScreenshotAs(OutputType.BYTES));
        System.out.println("[status-page] screenshot " + SHOTS.resolve(name).toAbsolutePath());
    }

    /** An attribute of a node's card, read in the page (the cards are redrawn at every update: no element handles). */
    private static String card(ChromeDriver d, String node, String attribute) {
        Object v = d.executeScript("const c = document.querySelector(\".card[data-node='\" + arguments[0] + \"']\");"
                + " return c ? c.getAttribute(arguments[1]) : '';", node, attribute);
        return v == null ? "" : v.toString();
    }

    private static long count(ChromeDriver d, String selector) {
        return ((Number) d.executeScript("return document.querySelectorAll(arguments[0]).length;", selector)).longValue();
    }

    @Test
    void thePageShowsTheNodesAndFollowsAKillNineFailoverWithoutAReload() throws Exception {
        ChromeDriver d = chromium();
        try {
            d.get("http://127.0.0.1:" + q.cluster.instances().get(1).httpPort() + "/");
            await().atMost(CONVERGE).untilAsserted(() -> {
                assertThat(count(d, ".card")).isEqualTo(3);
                assertThat(d.findElement(By.id("primary")).getText()).isEqualTo("pg-1");
                assertThat(d.findElement(By.id("live")).getText()).isEqualTo("live");
                for (String n : List.of("pg-1", "pg-2", "pg-3")) {
                    assertThat(card(d, n, "data-health")).as(n).isEqualTo("healthy");
                }
            });
            assertThat(card(d, "pg-1", "data-role")).isEqualTo("primary");
            assertThat(d.findElement(By.id("banner")).isDisplayed()).as("nothing wrong, no banner").isFalse();
            assertThat(count(d, "#history li")).as("the bootstrap at least").isPositive();
            assertThat(d.findElement(By.id("sentence")).getText()).contains("pg-1 is primary");
            screenshot(d, "1-healthy.png");
            Object loadedAt = ((JavascriptExecutor) d).executeScript("return window.metakoPageLoadedAt");

            q.cluster.nodes().get(0).kill();
            long killed = System.nanoTime();
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
                assertThat(d.findElement(By.id("primary")).getText()).isIn("pg-2", "pg-3");
                assertThat(card(d, "pg-1", "data-role")).isEqualTo("quarantined");
                assertThat(card(d, "pg-1", "data-health")).isEqualTo("failed");
            });
            long seenMillis = (System.nanoTime() - killed) / 1_000_000;
            assertThat(d.findElement(By.id("banner")).getText()).as("the failed node is obvious").contains("pg-1");
            assertThat(card(d, "pg-1", "class")).contains("failed");
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                    assertThat(count(d, "#history li.failover")).isPositive());
            screenshot(d, "2-after-kill.png");
            assertThat(((JavascriptExecutor) d).executeScript("return window.metakoPageLoadedAt"))
                    .as("the page updated without a reload").isEqualTo(loadedAt);
            System.out.println("[status-page] the page showed the new primary and the failed pg-1 " + seenMillis
                    + " ms after the kill");
        } finally {
            d.quit();
        }
    }
}
