import { describe, expect, it } from "vitest";
import { withNumber, withRetention } from "./SettingsDrawer";

describe("workflow settings", () => {
  it("sets a whole number and leaves the key out when emptied, keeping the other settings", () => {
    const base = { console: { positions: {} }, max_concurrent_runs: 3 };
    expect(withNumber(base, "max_concurrent_runs", 5)).toEqual({ console: { positions: {} }, max_concurrent_runs: 5 });
    expect(withNumber(base, "max_concurrent_runs", "")).toEqual({ console: { positions: {} } });
    expect(withNumber({}, "timeout_seconds", 12.7)).toEqual({ timeout_seconds: 12 });
  });
  it("keeps retention as an object of the keys set, and drops it when none is", () => {
    const kept = withRetention({}, "failed_days", 30);
    expect(kept).toEqual({ retention: { failed_days: 30 } });
    expect(withRetention(withRetention(kept, "days", 7), "failed_days", "")).toEqual({ retention: { days: 7 } });
    expect(withRetention(kept, "failed_days", "")).toEqual({});
  });
});
