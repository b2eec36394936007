import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { renderWithProviders } from "@/test/render";
import { SsoButtons, ssoError } from "./SsoButtons";

const GET = vi.hoisted(() => vi.fn());
vi.mock("@/lib/api-client", async (original) => ({
  ...(await original<typeof import("@/lib/api-client")>()),
  client: { GET },
}));

function answer(data: unknown) {
  return Promise.resolve({ data, response: new Response(JSON.stringify(data), { status: 200 }) });
}

describe("SsoButtons", () => {
  it("offers a button per enabled provider, linking to its start URL", async () => {
    GET.mockImplementation(() =>
      answer({
        providers: [
          { name: "corp", display_name: "Corp SSO", kind: "oidc" },
          { name: "gh", display_name: "GitHub", kind: "github" },
        ],
        require_sso: true,
      }),
    );
    renderWithProviders(<SsoButtons search="" />);
    await waitFor(() => expect(screen.getByTestId("sso-corp")).toHaveTextContent("Sign in with Corp SSO"));
    expect(screen.getByTestId("sso-corp")).toHaveAttribute("href", "/api/v1/auth/sso/corp/start");
    expect(screen.getByTestId("sso-gh")).toHaveAttribute("href", "/api/v1/auth/sso/gh/start");
    expect(screen.getByTestId("sso-required")).toBeInTheDocument();
    expect(GET).toHaveBeenCalledWith("/api/v1/auth/sso/options");
  });

  it("shows why a sign-in came back refused, and nothing without providers", async () => {
    GET.mockImplementation(() => answer({ providers: [], require_sso: false }));
    const { unmount } = renderWithProviders(<SsoButtons search="?sso_error=the%20ID%20token%20has%20expired" />);
    await waitFor(() => expect(screen.getByTestId("sso-error")).toHaveTextContent("the ID token has expired"));
    unmount();
    renderWithProviders(<SsoButtons search="" />);
    await waitFor(() => expect(GET).toHaveBeenCalled());
    expect(screen.queryByTestId("sso-buttons")).not.toBeInTheDocument();
    expect(ssoError("?a=1")).toBeNull();
  });
});
