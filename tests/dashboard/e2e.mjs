// The dashboard in real headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core from target/playwright). tests/dashboard.rs starts the
// daemon, adds a failing piece, gets a login URL from `bgwasm dashboard` and
// runs this with:
//   LOGIN_URL        the one-time login URL
//   PLAYWRIGHT_DIR   where playwright-core is installed
//   USER_DATA_DIR    a fresh Chromium profile directory
//   SCREENSHOT_DIR   where to save the screenshots
//   PIECE, ERROR     the failing piece's id and the text its error contains
// It logs in, sees the piece's error, presses "Run now" and sees the new run.
import { createRequire } from "node:module";
import path from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; tests/dashboard.rs sets it`);
  return value;
};
const { chromium } = createRequire(path.join(env("PLAYWRIGHT_DIR"), "x.js"))("playwright-core");
const piece = env("PIECE");
const error = env("ERROR");
const shots = env("SCREENSHOT_DIR");
const step = (what) => console.log(`e2e: ${what}`);

const context = await chromium.launchPersistentContext(env("USER_DATA_DIR"), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 800 },
  timeout: 30_000,
});
context.setDefaultTimeout(30_000);
try {
  const page = context.pages()[0] || (await context.newPage());
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  step("opening the login URL");
  const response = await page.goto(env("LOGIN_URL"));
  if (!page.url().endsWith("/dashboard/")) {
    throw new Error(`the login URL led to ${page.url()} (HTTP ${response && response.status()})`);
  }
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "bgwasm_dashboard");
  if (!session || !session.httpOnly || session.sameSite !== "Strict" || session.path !== "/dashboard") {
    throw new Error(`the session cookie is not HttpOnly, SameSite=Strict, Path=/dashboard: ${JSON.stringify(session)}`);
  }
  if (await page.evaluate(() => document.cookie.includes("bgwasm_dashboard"))) {
    throw new Error("the page's script can read the session cookie");
  }

  step("seeing the failing piece in the list");
  const row = page.locator(`#registrations tr[data-piece="${piece}"]`);
  await row.locator(".status-text.err", { hasText: error }).waitFor();
  // A few runs of the other piece, so the durations chart shows something.
  await page.waitForFunction(() =>
    document.querySelectorAll('#registrations tr[data-piece="counter"] svg.chart rect').length >= 4);
  await page.screenshot({ path: path.join(shots, "dashboard.png") });

  step("opening the piece's page");
  await row.locator("a.piece-link").click();
  const runs = page.locator("#runs details.run");
  await runs.first().waitFor();
  await page.locator("#runs .summary-error", { hasText: error }).first().waitFor();
  const ids = async () => (await runs.evaluateAll((all) => all.map((d) => Number(d.dataset.run))));
  const before = Math.max(...(await ids()));
  step(`newest run is #${before}; pressing "Run now"`);

  await page.locator('button[data-action="run"]').click();
  const newRun = page.locator(`#runs details.run[data-trigger="manual"]`).first();
  await newRun.waitFor();
  const id = Number(await newRun.getAttribute("data-run"));
  if (!(id > before)) throw new Error(`the manual run #${id} is not newer than #${before}`);
  step(`run #${id} appeared without a reload`);

  await newRun.locator("summary").click();
  const shown = await newRun.locator(".run-error").textContent();
  if (!shown.includes(error) || !shown.includes("js_error")) {
    throw new Error(`the run's error is not shown whole: ${shown}`);
  }
  await page.screenshot({ path: path.join(shots, "dashboard-piece.png"), fullPage: false });

  if (consoleErrors.length) throw new Error(`the page logged errors: ${consoleErrors.join("; ")}`);

  step("the same login URL again is refused");
  const again = await page.goto(env("LOGIN_URL"));
  if (again.status() !== 410 || !(await page.content()).includes("already used")) {
    throw new Error(`opening the login URL twice gave HTTP ${again.status()}`);
  }
  step("ok");
} finally {
  await context.close();
}
