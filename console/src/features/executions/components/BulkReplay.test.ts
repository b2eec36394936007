import { describe, expect, it } from "vitest";
import { jobSummary, type Job } from "./BulkReplay";

const item = (outcome: Job["items"][number]["outcome"], started: boolean): Job["items"][number] => ({
  source: `s-${Math.random()}`,
  source_version: 1,
  phase: "canary",
  outcome,
  execution_id: started ? "e" : null,
});
const job = (state: Job["state"], items: Job["items"], done = 0): Job => ({
  id: "j",
  workflow_id: "w",
  project_id: "default",
  status: "failed",
  workflow_version: "latest",
  canary: 2,
  parallelism: 4,
  dry_run: state === "planned",
  state,
  total: items.length,
  done,
  items,
  created_at: "2026-12-03T00:00:00Z",
});

describe("jobSummary", () => {
  it("says what a dry run would do and what a failed canary stopped", () => {
    expect(jobSummary(job("planned", [item("not_started", false), item("not_started", false), item("not_started", false)]))).toBe(
      "dry run: 3 run(s) would be replayed, the first 2 as the canary",
    );
    expect(jobSummary(job("canary_failed", [item("failed", true), item("not_started", false)], 1))).toBe("the canary failed (1 failed): nothing else was started");
    expect(jobSummary(job("succeeded", [item("succeeded", true), item("succeeded", true)], 2))).toBe("succeeded: 2 of 2 done, 2 started, 0 failed");
  });
});
