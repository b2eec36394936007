import { describe, expect, it } from "vitest";
import { filledParameters, parameterValue, type Parameter } from "./TemplatesPage";

const parameters: Parameter[] = [
  { name: "url", description: "the API", required: true },
  { name: "pages", description: "how many", default: 3 },
  { name: "path", description: "the webhook path", default: "greet" },
];

describe("template parameters", () => {
  it("sends numbers where the default is one, and text otherwise", () => {
    expect(parameterValue(parameters[1], "12")).toBe(12);
    expect(parameterValue(parameters[1], "twelve")).toBe("twelve"); // the API says what is wrong with it
    expect(parameterValue(parameters[2], "42")).toBe("42");
  });
  it("leaves out optional parameters left empty, so their defaults apply, but sends an empty required one", () => {
    expect(filledParameters(parameters, { url: "", pages: "", path: "orders" })).toEqual({ url: "", path: "orders" });
    expect(filledParameters(parameters, { url: "http://x.test" })).toEqual({ url: "http://x.test" });
  });
});
