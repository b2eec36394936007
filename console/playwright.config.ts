import { defineConfig } from "@playwright/test";

// End-to-end tests in Debian's Chromium against a running platform (tests/test_console.py starts one and sets
// FLOWTAPE_URL). No browser is ever downloaded: the system browser is launched by path.
export default defineConfig({
  testDir: "./e2e",
  timeout: 240_000,
  expect: { timeout: 20_000 },
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: process.env.FLOWTAPE_URL ?? "http://127.0.0.1:8080",
    viewport: { width: 1280, height: 800 },
    actionTimeout: 20_000,
    trace: "off",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    },
  },
});
