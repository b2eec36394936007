/**
 * The console as a person uses it, in real Chromium: first visit creates the admin; the branching workflow of
 * API.md is drawn by dragging nodes and connecting ports; it runs with {"n": 30}; the run is inspected, scrubbed
 * back in time, replayed from `calc` and compared with its fork; a viewer sees no edit controls; a waiting run
 * updates live. The debugging features: variables (plain and secret), a pinned output used by a test run, the Runs paused switch and a debug run
 * stepped past its breakpoint. Projects: one made, a member added, a quota set, a workflow made in it from the editor
 * and a run beyond the quota refused; a workflow made from a template. Screenshots of every main page go to
 * docs/screenshots/ (1280x800).
 */
import { expect, test, type APIRequestContext, type Browser, type Page } from "@playwright/test";

const SHOTS = "../docs/screenshots";
const ADMIN = { email: "admin@flowtape.test", password: "a long admin passphrase" };
const VIEWER = { email: "viewer@flowtape.test", password: "a long viewer passphrase" };
const HOOK = `orders-${Date.now().toString(36)}`;
// tests/test_console.py also looks for it in the service logs: it must never be shown or logged
const SECRET_VARIABLE = "vault-secret-never-shown-7f3a";

async function shot(page: Page, name: string) {
  await page.waitForTimeout(400); // let transitions settle
  await page.screenshot({ path: `${SHOTS}/${name}.png`, style: ".mantine-Notifications-root { display: none !important; }" });
}

async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto("/");
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("me-email")).toHaveText(who.email);
}

async function csrf(page: Page): Promise<string> {
  const cookies = await page.context().cookies();
  return cookies.find((c) => c.name === "flowtape_csrf")!.value;
}

/** API calls with the browser's own session (the httpOnly cookie) and the CSRF header. */
async function api(page: Page) {
  const token = await csrf(page);
  const request: APIRequestContext = page.request;
  const call = async (method: "get" | "post" | "put", path: string, data?: unknown) => {
    const response = await request[method](path, { data, headers: method === "get" ? {} : { "X-CSRF-Token": token } });
    expect(response.ok(), `${method} ${path}: ${response.status()} ${await response.text()}`).toBeTruthy();
    return response.json();
  };
  return call;
}

async function dropNode(page: Page, type: string, x: number, y: number) {
  await page.getByTestId(`palette-${type}`).dragTo(page.getByTestId("canvas"), { targetPosition: { x, y } });
}

async function rename(page: Page, id: string) {
  await page.getByRole("tab", { name: "Settings" }).click();
  const field = page.getByLabel("Node id");
  await field.fill(id);
  await field.blur();
  await expect(page.getByTestId(`node-${id}`)).toBeVisible();
  await page.getByRole("tab", { name: "Parameters" }).click();
}

async function setField(page: Page, row: number, key: string, value: string) {
  await page.getByTestId("kv-fields-add").click();
  await page.getByTestId(`kv-fields-key-${row}`).fill(key);
  await page.getByTestId(`kv-fields-value-${row}`).fill(value);
}

async function deselect(page: Page) {
  await page.locator(".react-flow__pane").click({ position: { x: 5, y: 5 } });
}

async function connect(page: Page, from: string, port: string, to: string) {
  const source = page.locator(`.react-flow__handle[data-nodeid="${from}"][data-handleid="${port}"]`);
  const target = page.locator(`.react-flow__handle[data-nodeid="${to}"][data-handleid="in"]`);
  const a = (await source.boundingBox())!;
  const b = (await target.boundingBox())!;
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
  const edge = page.locator(`.react-flow__edge[data-id="${from}:${port}->${to}"]`);
  await expect(edge).toHaveCount(1, { timeout: 5_000 }).catch(() => connect(page, from, port, to)); // one more try
  await expect(edge).toHaveCount(1);
}

async function newPage(browser: Browser) {
  const context = await browser.newContext();
  return context.newPage();
}

test("build, run, inspect, time-travel and fork a workflow in the browser", async ({ browser }) => {
  const page = await newPage(browser);
  let workflowId = "";
  let executionId = "";

  await test.step("the first visit creates the admin account", async () => {
    await page.goto("/");
    await expect(page.getByRole("button", { name: "Create admin account" })).toBeVisible();
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
    await page.getByLabel("Repeat the password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Create admin account" }).click();
    await expect(page.getByTestId("me-role")).toHaveText("admin");
    // the token is in an httpOnly cookie: page scripts cannot read it
    expect(await page.evaluate(() => document.cookie)).not.toContain("flowtape_session");
  });

  await test.step("draw the branching workflow by dragging nodes and connecting ports", async () => {
    await page.getByRole("link", { name: "Workflows" }).click();
    await page.getByTestId("new-workflow").click();
    await page.getByTestId("workflow-name").fill("orders (e2e)");

    await page.getByTestId("palette-search").fill("web");
    await dropNode(page, "webhook", 40, 40);
    await page.getByTestId("palette-search").fill("");
    await rename(page, "hook");
    await page.locator("#root_path").fill(HOOK);
    await deselect(page);

    await dropNode(page, "set", 40, 170);
    await rename(page, "calc");
    await setField(page, 0, "doubled", "{{ item.n * 2 }}");
    await deselect(page);

    await dropNode(page, "if", 40, 300);
    await rename(page, "check");
    await page.getByTestId("fx-root_condition").click();
    await page.getByTestId("expr-root_condition").fill("{{ item.n > 10 }}");
    await deselect(page);

    await dropNode(page, "set", 330, 200);
    await rename(page, "big");
    await setField(page, 0, "label", "big");
    await deselect(page);

    await dropNode(page, "set", 330, 380);
    await rename(page, "small");
    await setField(page, 0, "label", "small");
    await deselect(page);

    // the if node shows its true/false ports as handles
    await expect(page.locator('.react-flow__handle[data-nodeid="check"][data-handleid="true"]')).toBeVisible();
    await expect(page.locator('.react-flow__handle[data-nodeid="check"][data-handleid="false"]')).toBeVisible();
    await connect(page, "hook", "main", "calc");
    await connect(page, "calc", "main", "check");
    await connect(page, "check", "true", "big");
    await connect(page, "check", "false", "small");
  });

  await test.step("an invalid definition is refused, and the problem shows on its node; undo brings a node back", async () => {
    await dropNode(page, "manual_trigger", 330, 40); // a second trigger is one too many
    await page.getByTestId("save-button").click();
    await expect(page.getByTestId("problem-manual_trigger")).toContainText("trigger");
    await shot(page, "editor-invalid");
    await page.getByTestId("node-manual_trigger").click();
    await page.keyboard.press("Delete");
    await expect(page.getByTestId("node-manual_trigger")).toHaveCount(0);
    await page.getByTestId("undo").click();
    await expect(page.getByTestId("node-manual_trigger")).toHaveCount(1);
    await page.getByTestId("redo").click();
    await expect(page.getByTestId("node-manual_trigger")).toHaveCount(0);
    // copy and paste a node (it gets a fresh id), then delete the copy
    await page.getByTestId("node-big").click();
    await page.keyboard.press("Control+c");
    await page.keyboard.press("Control+v");
    await expect(page.getByTestId("node-set")).toHaveCount(1);
    await page.getByTestId("node-set").click();
    await page.keyboard.press("Delete");
    await expect(page.getByTestId("node-set")).toHaveCount(0);
    await expect(page.getByTestId("node-big")).toHaveCount(1);
  });

  await test.step("save makes version 1", async () => {
    await page.getByTestId("save-button").click();
    await expect(page).toHaveURL(/\/workflows\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId("version-badge")).toHaveText("v1");
    workflowId = page.url().split("/").pop()!;
  });

  await test.step('run with {"n": 30} and see label: big in the last node\'s output', async () => {
    await page.getByTestId("run-button").click();
    await page.getByTestId("run-submit").click();
    await expect(page.getByTestId("run-result")).toContainText("succeeded");
    await page.getByTestId("node-big").click();
    const output = page.getByTestId("node-output");
    await expect(output).toContainText("big");
    await output.getByText("JSON").click();
    await expect(page.getByTestId("node-output-json")).toContainText('"label": "big"');
    await expect(page.locator(".react-flow__edge-text").first()).toContainText("1 item");
    await page.locator(".react-flow__controls-fitview").click();
    await shot(page, "editor");
  });

  await test.step("open the run; the slider goes back to an earlier event with fewer nodes finished", async () => {
    await page.getByTestId("open-run").click();
    await expect(page).toHaveURL(/\/executions\//);
    executionId = page.url().split("/").pop()!.split("?")[0];
    await expect(page.getByTestId("execution-status")).toContainText("succeeded");
    await expect(page.getByTestId("finished-count")).toHaveText("5 of 5 nodes finished");
    await page.getByTestId("node-check").click();
    await expect(page.getByTestId("node-run")).toContainText("true");
    await shot(page, "run-inspector");

    const thumb = page.getByRole("slider");
    await thumb.focus();
    // 7 events: started, hook, calc, check, the skip of small, big, succeeded; back to after calc
    for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowLeft");
    await expect(page).toHaveURL(/at=3/);
    await expect(page.getByTestId("finished-count")).toHaveText("2 of 5 nodes finished");
    await expect(page.getByTestId("node-big")).not.toHaveAttribute("data-status", "succeeded");
    await shot(page, "time-travel");

    // a shared link opens at that event
    await page.goto(`/executions/${executionId}?at=2`);
    await expect(page.getByTestId("finished-count")).toHaveText("1 of 5 nodes finished");
  });

  await test.step("replay from calc with edited input on the latest version, and see the child run", async () => {
    const call = await api(page);
    const v1 = await call("get", `/api/v1/workflows/${workflowId}`);
    const nodes = v1.nodes.map((n: { id: string; params: Record<string, unknown> }) => (n.id === "small" ? { ...n, params: { fields: { label: "tiny" } } } : n));
    const v2 = await call("put", `/api/v1/workflows/${workflowId}`, { name: v1.name, nodes, edges: v1.edges, settings: v1.settings });
    expect(v2.version).toBe(2);

    await page.goto(`/executions/${executionId}`);
    await page.getByTestId("node-calc").click();
    await page.getByTestId("replay-button").click();
    const input = page.getByTestId("replay-input");
    await input.fill('[{"n": 3}]');
    await page.getByText("the latest version").click();
    await page.getByTestId("replay-submit").click();
    await expect(page).not.toHaveURL(new RegExp(executionId));
    await expect(page.getByTestId("execution-status")).toContainText("succeeded");
    await expect(page.getByTestId("parent-link")).toContainText(executionId.slice(0, 8));
    await page.getByRole("tab", { name: "Output" }).click();
    await expect(page.getByTestId("execution-output")).toContainText('"label": "tiny"');
    await expect(page.getByTestId("execution-output")).toContainText('"doubled": 6');
    await shot(page, "replay-child");
    // compared with the run it was forked from (offered by default): calc's input differs, so does the path
    await page.getByTestId("compare-button").click();
    await expect(page.getByTestId("compare-other")).toHaveValue(executionId);
    await page.getByTestId("compare-submit").click();
    await expect(page.getByTestId("run-diff")).toBeVisible();
    await expect(page.getByTestId("diff-node-calc")).toContainText("/0/n");
    await shot(page, "run-diff");
    await page.keyboard.press("Escape");
    await expect(page.getByRole("dialog")).toHaveCount(0);
    // and the parent links to its fork
    await page.getByTestId("parent-link").getByRole("link").click();
    await expect(page.getByTestId("child-link")).toHaveCount(1);
  });

  await test.step("a failed run shows its error and can be retried", async () => {
    const call = await api(page);
    const failing = await call("post", "/api/v1/workflows", {
      name: "always fails",
      nodes: [
        { id: "start", type: "manual_trigger" },
        { id: "divide", type: "set", params: { fields: { x: "{{ 1 / item.zero }}" } } },
      ],
      edges: [{ from: "start", to: "divide" }],
    });
    const failed = await call("post", `/api/v1/workflows/${failing.id}/run?wait=true`, { input: [{ zero: 0 }] });
    expect(failed.status).toBe("failed");
    await page.goto(`/executions/${failed.id}`);
    await expect(page.getByTestId("execution-status")).toContainText("failed");
    await page.getByTestId("retry-button").click();
    await expect(page).not.toHaveURL(new RegExp(failed.id));
    await expect(page.getByTestId("parent-link")).toBeVisible();
  });

  await test.step("version history: restore version 1 as the newest version", async () => {
    await page.goto(`/workflows/${workflowId}`);
    await expect(page.getByTestId("version-badge")).toHaveText("v2");
    await page.getByTestId("versions-button").click();
    await expect(page.getByTestId("versions")).toContainText("v1");
    await page.getByTestId("restore-1").click();
    await expect(page.getByTestId("version-badge")).toHaveText("v3");
  });

  await test.step("workflows: duplicate, delete, import", async () => {
    await page.goto("/workflows");
    await page.getByTestId("workflow-menu-always fails").click();
    await page.getByTestId("duplicate").click();
    await expect(page.getByTestId("workflow-row-always fails (copy)")).toBeVisible();
    await expect(page.getByRole("menu")).toHaveCount(0); // the first menu has closed
    await page.getByTestId("workflow-menu-always fails (copy)").click();
    await page.getByRole("menu").getByTestId("delete").click();
    await page.getByTestId("confirm-delete").click();
    await expect(page.getByTestId("workflow-row-always fails (copy)")).toHaveCount(0);
    const file = { name: "imported.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify({ name: "imported", nodes: [{ id: "start", type: "manual_trigger" }, { id: "noop", type: "noop" }], edges: [{ from: "start", to: "noop" }] })) };
    await page.locator('input[type="file"]').setInputFiles(file);
    await expect(page).toHaveURL(/\/workflows\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId("node-noop")).toBeVisible();
  });

  await test.step("the other pages show their data", async () => {
    await page.goto("/workflows");
    await expect(page.getByTestId("workflow-row-orders (e2e)")).toContainText("v3");
    await page.getByTestId("workflow-search").fill("orders");
    await expect(page.getByTestId("workflow-row-always fails")).toHaveCount(0);
    await page.getByTestId("workflow-search").fill("");
    // activate: the webhook registers, and the triggers page lists it
    await page.getByTestId("workflow-row-orders (e2e)").locator(".mantine-Switch-track").click();
    await expect(page.getByTestId("workflow-row-orders (e2e)").getByRole("switch")).toBeChecked();
    await shot(page, "workflows");

    await page.getByRole("link", { name: "Triggers" }).click();
    await expect(page.getByTestId("trigger-row")).toContainText(`/hooks/${HOOK}`);
    await shot(page, "triggers");

    await page.getByRole("link", { name: "Executions" }).click();
    await expect(page.getByTestId("execution-row").first()).toBeVisible();
    await page.getByTestId("filter-status").click();
    await page.getByRole("option", { name: "failed" }).click();
    await expect(page.getByTestId("executions-table")).not.toContainText("succeeded");
    await shot(page, "executions");

    await page.getByRole("link", { name: "Dashboard" }).click();
    await expect(page.getByTestId("count-succeeded")).not.toHaveText("0");
    await expect(page.getByTestId("count-failed")).not.toHaveText("0");
    await expect(page.getByTestId("latest-failures")).toBeVisible();
    await shot(page, "dashboard");

    await page.getByRole("link", { name: "Credentials" }).click();
    await page.getByTestId("new-credential").click();
    await page.getByTestId("credential-name").fill("crm-token");
    await page.getByRole("dialog").locator("#root_name").fill("X-API-Key");
    await page.getByRole("dialog").locator("input[type=password]").fill("s3cret-value-never-shown");
    await page.getByTestId("credential-save").click();
    await expect(page.getByTestId("credentials-table")).toContainText("crm-token");
    await expect(page.locator("body")).not.toContainText("s3cret-value-never-shown");
    await shot(page, "credentials");

    await page.getByRole("link", { name: "Users & API keys" }).click();
    await page.getByTestId("invite-user").click();
    await page.getByTestId("user-email").fill(VIEWER.email);
    await page.getByTestId("user-password").fill(VIEWER.password);
    await page.getByTestId("user-role").click();
    await page.getByRole("option", { name: "viewer" }).click();
    await page.getByTestId("user-create").click();
    await expect(page.getByTestId("users-table")).toContainText(VIEWER.email);
    await shot(page, "users");
    await page.getByTestId("tab-keys").click();
    await page.getByTestId("new-key").click();
    await page.getByTestId("key-name").fill("ci-deploy");
    await page.getByTestId("key-create").click();
    await expect(page.getByTestId("new-api-key")).toContainText("ftk_");
    await page.getByRole("button", { name: "Done" }).click();
    await expect(page.getByTestId("keys-table")).toContainText("ci-deploy");

    await page.getByRole("link", { name: "Audit trail" }).click();
    await expect(page.getByTestId("audit-table")).toContainText("user.created");
    await shot(page, "audit");

    await page.getByRole("link", { name: "Dead letters" }).click();
    await expect(page.getByTestId("dead-letters-table")).toBeVisible();
    if (!process.env.FLOWTAPE_POISONED) await shot(page, "dead-letters");
    if (process.env.FLOWTAPE_POISONED) {
      // tests/test_console.py sent a message no service understands
      await expect(page.getByTestId("dead-letters-table")).toContainText("unknown message type");
      await shot(page, "dead-letters");
      await page.getByTestId("dead-letters-table").getByRole("button", { name: "Re-drive" }).first().click();
      await expect(page.getByText(/Re-driven/)).toBeVisible();
    }
  });

  await test.step("a viewer sees no edit or run controls", async () => {
    const viewer = await newPage(browser);
    await signIn(viewer, VIEWER);
    await expect(viewer.getByRole("link", { name: "Users & API keys" })).toHaveCount(0);
    await viewer.goto(`/workflows/${workflowId}`);
    await expect(viewer.getByTestId("node-calc")).toBeVisible();
    await expect(viewer.getByTestId("palette")).toHaveCount(0);
    await expect(viewer.getByTestId("save-button")).toHaveCount(0);
    await expect(viewer.getByTestId("run-button")).toHaveCount(0);
    await expect(viewer.getByTestId("active-toggle")).toHaveCount(0);
    await viewer.goto("/workflows");
    await expect(viewer.getByTestId("new-workflow")).toHaveCount(0);
    await viewer.goto(`/executions/${executionId}`);
    await viewer.getByTestId("node-calc").click();
    await expect(viewer.getByTestId("node-run")).toBeVisible();
    await expect(viewer.getByTestId("replay-button")).toHaveCount(0);
    await shot(viewer, "viewer-run-inspector");
    // and the API refuses a viewer anyway, cookie session or not
    const refused = await viewer.request.post(`/api/v1/workflows/${workflowId}/run`, { data: { input: [] }, headers: { "X-CSRF-Token": await csrf(viewer) } });
    expect(refused.status()).toBe(403);
    await viewer.context().close();
  });

  await test.step("a running wait workflow updates live, without a reload", async () => {
    const call = await api(page);
    const waiting = await call("post", "/api/v1/workflows", {
      name: "waits a little",
      nodes: [
        { id: "start", type: "manual_trigger" },
        { id: "pause", type: "wait", params: { seconds: 4 } },
        { id: "after", type: "set", params: { fields: { done: true } } },
      ],
      edges: [
        { from: "start", to: "pause" },
        { from: "pause", to: "after" },
      ],
    });
    const started = await call("post", `/api/v1/workflows/${waiting.id}/run`, { input: [{}] });
    await page.goto(`/executions/${started.execution_id}`);
    await expect(page.getByTestId("live")).toBeVisible();
    await expect(page.getByTestId("execution-status")).toContainText(/running|waiting/);
    await expect(page.getByTestId("node-pause")).toHaveAttribute("data-status", /waiting|running|scheduled/);
    await shot(page, "run-live");
    const navigations: string[] = [];
    page.on("framenavigated", (frame) => frame === page.mainFrame() && navigations.push(frame.url()));
    await expect(page.getByTestId("execution-status")).toContainText("succeeded", { timeout: 30_000 });
    await expect(page.getByTestId("node-after")).toHaveAttribute("data-status", "succeeded");
    await expect(page.getByTestId("live")).toHaveCount(0);
    expect(navigations).toEqual([]);

    // and a running one can be cancelled
    const long = await call("post", `/api/v1/workflows/${waiting.id}/run`, { input: [{}] });
    await page.goto(`/executions/${long.execution_id}`);
    await expect(page.getByTestId("live")).toBeVisible();
    await page.getByTestId("cancel-button").click();
    await page.getByRole("button", { name: "Cancel the run" }).click();
    await expect(page.getByTestId("execution-status")).toContainText("cancelled");
  });
});

test("debug a workflow: variables, a pinned output in a test run, the runs pause and a debug run", async ({ browser }) => {
  const page = await newPage(browser);
  await signIn(page, ADMIN);
  const call = await api(page);
  const workflow = await call("post", "/api/v1/workflows", {
    name: "debugging (e2e)",
    nodes: [
      { id: "start", type: "manual_trigger" },
      { id: "calc", type: "set", params: { fields: { doubled: "{{ item.n * 2 }}", greeting: "{{ vars.GREETING }}" } } },
      { id: "report", type: "set", params: { fields: { report: "{{ item.greeting }}: {{ item.doubled }}" } } },
    ],
    edges: [
      { from: "start", to: "calc" },
      { from: "calc", to: "report" },
    ],
    settings: { console: { positions: { start: { x: 0, y: 0 }, calc: { x: 110, y: 110 }, report: { x: 220, y: 220 } } } },
  });
  const workflowId: string = workflow.id;

  await test.step("set a plain and a secret variable on the Variables page", async () => {
    await page.getByRole("link", { name: "Variables" }).click();
    await page.getByTestId("new-variable").click();
    await page.getByTestId("variable-name").fill("GREETING");
    await page.getByTestId("variable-value").fill("hello from vars");
    await page.getByTestId("variable-save").click();
    await expect(page.getByTestId("variable-GREETING")).toContainText("hello from vars");

    await page.getByTestId("new-variable").click();
    await page.getByTestId("variable-name").fill("VAULT_TOKEN");
    await page.getByRole("checkbox", { name: /Secret/ }).check();
    await page.getByTestId("variable-value").fill(SECRET_VARIABLE);
    await page.getByTestId("variable-save").click();
    await expect(page.getByTestId("variable-VAULT_TOKEN")).toContainText("secret");
    await expect(page.getByRole("dialog")).toHaveCount(0);
    await expect(page.locator("body")).not.toContainText(SECRET_VARIABLE);
    expect(await page.content()).not.toContain(SECRET_VARIABLE);
    await shot(page, "variables");
  });

  await test.step("run, pin calc's output (then hand-written items) and see the pin on the canvas", async () => {
    await page.goto(`/workflows/${workflowId}`);
    await expect(page.getByTestId("node-calc")).toBeVisible();
    await expect(page.getByTestId("test-run-button")).toHaveCount(0); // nothing is pinned yet
    await page.getByTestId("run-button").click();
    await page.getByTestId("run-submit").click();
    await expect(page.getByTestId("run-result")).toContainText("succeeded");
    await page.getByTestId("node-calc").click();
    await expect(page.getByTestId("node-output")).toContainText("hello from vars");

    await page.getByTestId("pin-output-main").click();
    await expect(page.getByTestId("pinned-calc")).toBeVisible();
    await expect(page.getByTestId("pinned-output-main")).toContainText("60");

    // or test the step (on the last run's input) and pin what it produced
    await page.getByTestId("test-step-button").click();
    await expect(page.getByTestId("step-output-main")).toContainText("hello from vars");
    await page.getByTestId("pin-step-main").click();
    await expect(page.getByTestId("pinned-output-main")).toContainText("60");

    // a pin must be a JSON array of objects
    const editor = page.getByTestId("pin-json");
    await editor.fill('{"doubled": 1000}');
    await page.getByTestId("pin-json-button").click();
    await expect(page.getByTestId("pin-error")).toContainText("JSON array of objects");
    await editor.fill('[{"doubled": 1000, "greeting": "from the pin"}]');
    await page.getByTestId("pin-json-button").click();
    await expect(page.getByTestId("pinned-output-main")).toContainText("from the pin");
    await expect(page.getByTestId("pin-error")).toHaveCount(0);
    await expect(page.getByTestId("pinned-calc")).toHaveAccessibleName(/output pinned/);
    // the pin makes no version
    await expect(page.getByTestId("version-badge")).toHaveText("v1");
    await page.locator(".react-flow__controls-fitview").click();
    await page.getByTestId("pin-state").scrollIntoViewIfNeeded();
    await shot(page, "editor-pinned");
  });

  await test.step("a test run takes the pin instead of running calc; the inspector says so", async () => {
    await page.getByTestId("test-run-button").click();
    await expect(page.getByRole("dialog")).toContainText("pinned outputs stand in");
    await page.getByTestId("run-submit").click();
    await expect(page.getByTestId("run-result")).toContainText("succeeded");
    await page.getByTestId("open-run").click();
    await expect(page).toHaveURL(/\/executions\//);
    await expect(page.getByTestId("execution-status")).toContainText("succeeded");
    await expect(page.getByTestId("test-run-badge")).toHaveText("test run");
    await expect(page.getByTestId("pinned-calc")).toHaveAccessibleName("pinned output, not run");
    await expect(page.getByTestId("pinned-report")).toHaveCount(0);
    await page.getByTestId("node-calc").click();
    await expect(page.getByTestId("node-pinned")).toContainText("pinned output, not run");
    await expect(page.getByTestId("node-run")).toContainText("attempts: 0");
    await page.getByRole("tab", { name: "Output" }).click();
    await expect(page.getByTestId("execution-output")).toContainText('"report": "from the pin: 1000"');
    await page.getByTestId("tab-node").click();
    await expect(page.locator("body")).not.toContainText(SECRET_VARIABLE);
    await shot(page, "run-with-pin");

    // a plain run never takes a pin
    const plain = await call("post", `/api/v1/workflows/${workflowId}/run?wait=true`, { input: [{ n: 2 }] });
    expect(plain.test).toBe(false);
    expect(plain.output).toEqual([expect.objectContaining({ report: "hello from vars: 4" })]);
  });

  await test.step("unpin calc in the editor", async () => {
    await page.goto(`/workflows/${workflowId}`);
    await page.getByTestId("node-calc").click();
    await page.getByTestId("tab-run").click();
    await page.getByTestId("unpin-button").click();
    await expect(page.getByTestId("pinned-calc")).toHaveCount(0);
    await expect(page.getByTestId("test-run-button")).toHaveCount(0);
  });

  await test.step("flip the Runs paused switch on and off", async () => {
    const toggle = page.getByRole("switch", { name: "Runs paused" });
    await expect(toggle).toBeEnabled();
    await expect(toggle).not.toBeChecked();
    await page.getByText("Runs paused").click();
    await expect(toggle).toBeChecked();
    expect((await call("get", "/api/v1/admin/pause")).workflows).toContain(workflowId);
    await deselect(page);
    await shot(page, "runs-paused");
    await page.getByText("Runs paused").click();
    await expect(toggle).not.toBeChecked();
    expect((await call("get", "/api/v1/admin/pause")).workflows).not.toContain(workflowId);
  });

  await test.step("a debug run stops at its breakpoint before calc; Step runs calc on edited input and stops again; Continue finishes", async () => {
    // started from the editor's Run drawer: choosing a node to pause before makes it a debug run
    await page.goto(`/workflows/${workflowId}`);
    await page.getByTestId("run-button").click();
    await page.getByTestId("run-input").fill('{"n": 5}');
    await page.getByTestId("run-breakpoints").click();
    await page.getByRole("option", { name: "calc" }).click();
    await page.getByText("The trigger's items").click(); // closes the list
    await expect(page.getByTestId("run-submit")).toHaveText("Debug run");
    await page.getByTestId("run-submit").click();
    await expect(page).toHaveURL(/\/executions\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId("debug-paused")).toBeVisible();
    await expect(page.getByTestId("debug-node")).toHaveText("calc");
    await expect(page.getByTestId("debug-paused")).toContainText("breakpoint");
    await expect(page.getByTestId("execution-status")).toContainText("paused");
    await expect(page.getByTestId("node-calc")).not.toHaveAttribute("data-status", "succeeded");
    // the paused node's input (what reached it: the trigger's item), edited before it runs
    await expect(page.getByTestId("debug-input")).toHaveValue(/"n": 5/);
    await page.getByTestId("debug-input").fill('[{"n": 7}]');
    await shot(page, "debug-paused");

    await page.getByTestId("debug-step").click();
    await expect(page.getByTestId("debug-node")).toHaveText("report");
    await expect(page.getByTestId("debug-paused")).toContainText("step");
    await expect(page.getByTestId("node-calc")).toHaveAttribute("data-status", "succeeded");
    await page.getByTestId("node-calc").click();
    await expect(page.getByTestId("node-output")).toContainText("14");
    await expect(page.getByTestId("node-report")).not.toHaveAttribute("data-status", "succeeded");
    await page.getByTestId("debug-continue").click();
    await expect(page.getByTestId("execution-status")).toContainText("succeeded");
    await expect(page.getByTestId("debug-paused")).toHaveCount(0);
    await page.getByRole("tab", { name: "Output" }).click();
    await expect(page.getByTestId("execution-output")).toContainText('"report": "hello from vars: 14"');
  });
  await page.context().close();
});

test("projects: a platform admin makes a project, adds a member, sets a quota, makes a workflow there and sees its usage", async ({ browser }) => {
  const page = await newPage(browser);
  await signIn(page, ADMIN);
  const call = await api(page);
  const name = `Data team ${Date.now().toString(36)}`;

  await page.getByRole("link", { name: "Projects" }).click();
  await page.getByTestId("new-project").click();
  await page.getByTestId("project-name").fill(name);
  await page.getByTestId("project-create").click();
  const card = page.getByTestId(`project-${name}`);
  await expect(card).toBeVisible();
  await card.getByTestId("member-email").fill(VIEWER.email);
  await card.getByTestId("member-add").click();
  await expect(card.getByTestId(`member-${VIEWER.email}`)).toContainText("viewer");

  await card.getByTestId("quotas-edit").click();
  await page.getByTestId("quota-executions_per_day").fill("1");
  await page.getByTestId("quotas-save").click();
  await expect(page.getByRole("dialog")).toHaveCount(0);
  await expect(card.getByTestId("usage-executions_per_day")).toContainText("0 of 1");
  await expect(card.getByTestId("usage-stored_bytes")).toContainText("of no limit");

  const project = (await call("get", "/api/v1/projects")).items.find((p: { name: string }) => p.name === name);
  // a new workflow goes into the project picked in the editor (the admin is in two now)
  await page.getByRole("link", { name: "Workflows" }).click();
  await page.getByTestId("new-workflow").click();
  await page.getByTestId("workflow-name").fill("within a quota (e2e)");
  await page.getByTestId("workflow-project").click();
  await page.getByRole("option", { name }).click();
  await page.getByTestId("palette-search").fill("manual");
  await dropNode(page, "manual_trigger", 40, 40);
  await page.getByTestId("save-button").click();
  await expect(page).toHaveURL(/\/workflows\/[0-9a-f-]{36}$/);
  const workflow = await call("get", `/api/v1/workflows/${page.url().split("/workflows/")[1]}`);
  expect(workflow.project_id).toBe(project.id);
  await page.getByRole("link", { name: "Workflows" }).click();
  await expect(page.getByTestId("workflow-project-within a quota (e2e)")).toHaveText(name);
  await call("post", `/api/v1/workflows/${workflow.id}/run?wait=true`, { input: [{}] });
  const refused = await page.request.post(`/api/v1/workflows/${workflow.id}/run`, {
    data: { input: [{}] },
    headers: { "X-CSRF-Token": await csrf(page) },
  });
  expect(refused.status()).toBe(429);
  expect((await refused.json()).error.message).toContain("quota of executions per day (1)");

  await page.getByRole("link", { name: "Projects" }).click();
  await expect(card.getByTestId("usage-executions_per_day")).toContainText("1 of 1");
  await expect(card.getByRole("progressbar", { name: "Executions today used" })).toHaveAttribute("aria-valuenow", "100");
  await shot(page, "projects-quotas");
  await page.context().close();
});

test("templates: start a workflow from a template and open it in the editor", async ({ browser }) => {
  const page = await newPage(browser);
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Templates" }).click();
  await expect(page.getByTestId("template-api-proxy-cache")).toBeVisible();
  await expect(page.getByTestId("template-browser-scrape")).toContainText("browser");
  await shot(page, "templates");
  await page.getByTestId("use-webhook-transform-reply").click();
  await page.getByTestId("template-name").fill("greeter (e2e)");
  await page.getByTestId("template-param-path").fill(`greet-${Date.now().toString(36)}`);
  await page.getByTestId("template-create").click();
  await expect(page).toHaveURL(/\/workflows\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("workflow-name")).toHaveValue("greeter (e2e)");
  for (const node of ["hook", "shape", "reply"]) await expect(page.getByTestId(`node-${node}`)).toBeVisible();
  await page.context().close();
});

test("bulk replay: plan a replay of a workflow's failed runs, then see a failing canary stop the rest", async ({ browser }) => {
  const page = await newPage(browser);
  await signIn(page, ADMIN);
  const call = await api(page);
  const workflow = await call("post", "/api/v1/workflows", {
    name: `always fails ${Date.now().toString(36)}`,
    nodes: [
      { id: "start", type: "manual_trigger" },
      { id: "fail", type: "stop_and_error", params: { message: "order {{ item.n }} has no customer" } },
    ],
    edges: [{ from: "start", to: "fail" }],
  });
  for (const n of [1, 2, 3]) await call("post", `/api/v1/workflows/${workflow.id}/run?wait=true`, { input: [{ n }] });

  await page.goto(`/executions?workflow_id=${workflow.id}`);
  await page.getByTestId("bulk-replay").click();
  await page.getByTestId("bulk-canary").fill("1");
  await page.getByTestId("bulk-start").click(); // a dry run first (the default)
  await expect(page.getByTestId("bulk-state")).toHaveText("planned");
  await expect(page.getByTestId("bulk-summary")).toContainText("3 run(s) would be replayed, the first 1 as the canary");
  await page.getByTestId("bulk-dry-run").uncheck();
  await page.getByTestId("bulk-start").click();
  await expect(page.getByTestId("bulk-state")).toHaveText("canary_failed", { timeout: 30_000 });
  await expect(page.getByTestId("bulk-summary")).toContainText("nothing else was started");
  await shot(page, "bulk-replay");
  const runs = await call("get", `/api/v1/executions?workflow_id=${workflow.id}&limit=50`);
  expect(runs.items).toHaveLength(4); // the three failed runs and the canary's replay, nothing more

  // its own settings, from the editor: at most 2 runs at once, failed runs kept 30 days
  await page.goto(`/workflows/${workflow.id}`);
  await page.getByTestId("settings-button").click();
  await page.getByTestId("setting-max_concurrent_runs").fill("2");
  await page.getByTestId("setting-retention-failed_days").fill("30");
  await page.getByTestId("settings-apply").click();
  await page.getByTestId("save-button").click();
  await expect(page.getByTestId("version-badge")).toContainText("v2");
  const saved = await call("get", `/api/v1/workflows/${workflow.id}`);
  expect(saved.settings.max_concurrent_runs).toBe(2);
  expect(saved.settings.retention).toEqual({ failed_days: 30 });
  await page.context().close();
});
