import { describe, expect, it } from "vitest";
import { tokenFromFragment } from "./Links";

describe("tokenFromFragment", () => {
  it("reads the token a mailed link carries in its fragment", () => {
    expect(tokenFromFragment("#token=abc_DEF-123")).toBe("abc_DEF-123");
    expect(tokenFromFragment("token=xyz")).toBe("xyz");
  });
  it("is empty when the link lost its token", () => {
    expect(tokenFromFragment("")).toBe("");
    expect(tokenFromFragment("#other=1")).toBe("");
  });
});
