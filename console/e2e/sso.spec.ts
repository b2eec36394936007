/**
 * Single sign-on in real Chromium against a local OpenID provider (tests/test_sso.py starts both and sets the
 * FLOWTAPE_SSO_* variables; without them this spec is skipped): the sign-in page offers "Sign in with Corp SSO",
 * the browser goes through the provider and lands in the console signed in; a refused sign-in comes back to the
 * sign-in page saying why. The admin's provider page is screenshotted too.
 */
import { expect, test } from "@playwright/test";

const SHOTS = "../docs/screenshots";
const PROVIDER = process.env.FLOWTAPE_SSO_PROVIDER ?? "";
const PERSON = process.env.FLOWTAPE_SSO_EMAIL ?? "";
const ADMIN = { email: process.env.FLOWTAPE_SSO_ADMIN_EMAIL ?? "", password: process.env.FLOWTAPE_SSO_ADMIN_PASSWORD ?? "" };

test.skip(!PROVIDER, "run by tests/test_sso.py, which starts the identity provider");

test("sign in with the OpenID provider, and see why a refused one failed", async ({ page, browser }) => {
  await page.goto("/");
  const button = page.getByTestId(`sso-${PROVIDER}`);
  await expect(button).toHaveText("Sign in with Corp SSO");
  await page.waitForTimeout(400);
  await page.screenshot({ path: `${SHOTS}/sign-in-sso.png` });
  await button.click();
  await expect(page.getByTestId("me-email")).toHaveText(PERSON);
  await expect(page).toHaveURL(/\/$/);

  // a callback whose state this browser never started: back on the sign-in page with the reason
  const other = await browser.newContext();
  const refused = await other.newPage();
  await refused.goto(`/api/v1/auth/sso/${PROVIDER}/callback?state=forged-state-value&code=x`);
  await expect(refused.getByTestId("sso-error")).toContainText("not started in this browser");
  await expect(refused.getByTestId(`sso-${PROVIDER}`)).toBeVisible();
  await expect(refused.getByRole("button", { name: "Sign in", exact: true })).toBeEnabled();
  await refused.waitForTimeout(400);
  await refused.screenshot({ path: `${SHOTS}/sign-in-sso-refused.png` });
  await other.close();

  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  await adminPage.goto("/");
  await adminPage.getByLabel("Email").fill(ADMIN.email);
  await adminPage.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await adminPage.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(adminPage.getByTestId("me-email")).toHaveText(ADMIN.email);
  await adminPage.getByRole("link", { name: "Single sign-on" }).click();
  await expect(adminPage.getByTestId(`sso-row-${PROVIDER}`)).toContainText("eng → editor");
  await adminPage.waitForTimeout(400);
  await adminPage.screenshot({ path: `${SHOTS}/sso-providers.png` });
  await admin.close();
});
