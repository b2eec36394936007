import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderWithProviders } from "@/test/render";
import { formatAmount, UsageTable, type Usage } from "./QuotaUsage";

const usage: Usage = {
  project_id: "p1",
  quotas: { executions_per_day: 100, concurrent_runs: null, stored_bytes: 1_000_000 },
  usage: { executions_today: 100, concurrent_runs: 3, stored_bytes: 250_000 },
  day_started_at: "2026-12-03T00:00:00+00:00",
};

describe("UsageTable", () => {
  it("shows each quota's use against its limit, and no limit where none is set", () => {
    renderWithProviders(<UsageTable usage={usage} />);
    expect(screen.getByTestId("usage-executions_per_day").textContent).toContain("100 of 100");
    expect(screen.getByTestId("usage-concurrent_runs").textContent).toContain("3 of no limit");
    expect(screen.getByTestId("usage-stored_bytes").textContent).toContain("250.0 KB of 1.0 MB");
    expect(screen.getAllByRole("progressbar")).toHaveLength(2);
  });
  it("writes bytes in decimal units", () => {
    expect(formatAmount(999, true)).toBe("999 B");
    expect(formatAmount(1_500_000_000, true)).toBe("1.5 GB");
    expect(formatAmount(12_345)).toBe("12,345");
  });
});
