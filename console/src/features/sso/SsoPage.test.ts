import { describe, expect, it } from "vitest";
import { callbackUrl, newProviderBody } from "./SsoPage";

const form = {
  kind: "oidc" as const,
  name: "corp",
  displayName: "Corp SSO",
  clientId: "client",
  clientSecret: "secret",
  discoveryUrl: "https://idp.test/.well-known/openid-configuration",
  tenant: "",
  githubUrl: "",
  apiUrl: "",
  grants: "eng=editor",
  defaultRole: "none",
};

describe("newProviderBody", () => {
  it("sends an OpenID provider by discovery URL with its grants, sign-up off", () => {
    expect(newProviderBody(form).body).toEqual({
      name: "corp",
      kind: "oidc",
      display_name: "Corp SSO",
      client_id: "client",
      client_secret: "secret",
      discovery_url: form.discoveryUrl,
      grants: [{ group: "eng", role: "editor" }],
      default_role: null,
    });
  });
  it("turns the presets into an OpenID provider with a preset, and GitHub into kind github", () => {
    expect(newProviderBody({ ...form, kind: "microsoft", tenant: "contoso" }).body).toMatchObject({ kind: "oidc", preset: "microsoft", tenant: "contoso" });
    expect(newProviderBody({ ...form, kind: "microsoft" }).body).not.toHaveProperty("discovery_url");
    expect(newProviderBody({ ...form, kind: "github", apiUrl: "https://ghe.test/api/v3" }).body).toMatchObject({ kind: "github", api_url: "https://ghe.test/api/v3" });
  });
  it("refuses grants it cannot read", () => {
    expect(newProviderBody({ ...form, grants: "eng=king" }).problem).toMatch(/line 1/);
  });
  it("shows the redirect URI to register", () => {
    expect(callbackUrl("corp", "https://flows.test")).toBe("https://flows.test/api/v1/auth/sso/corp/callback");
  });
});
