import { describe, expect, it } from "vitest";
import { formatGrants, parseGrants } from "./grants";

describe("parseGrants", () => {
  it("reads one group=role a line, skipping blank lines", () => {
    expect(parseGrants("eng=editor\n\n ops = operator \nteam=a=admin")).toEqual({
      grants: [
        { group: "eng", role: "editor" },
        { group: "ops", role: "operator" },
        { group: "team=a", role: "admin" },
      ],
      problem: null,
    });
  });
  it("names the line that is not a grant", () => {
    expect(parseGrants("eng=editor\nops=boss").problem).toMatch(/^line 2:/);
    expect(parseGrants("=viewer").problem).toMatch(/^line 1:/);
  });
  it("formats what it reads", () => {
    const text = "eng=editor\nops=operator";
    expect(formatGrants(parseGrants(text).grants)).toBe(text);
  });
});
