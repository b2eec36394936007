import { fireEvent, screen, within } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { renderWithProviders } from "@/test/render";
import { ParamsForm } from "./ParamsForm";
import { dropExpressionErrors, prepareSchema, uiSchemaFor } from "./schema";

// schemas as the catalog serves them (pydantic's JSON Schema)
const ifSchema = {
  additionalProperties: false,
  properties: { condition: { description: "Usually an expression", title: "Condition", type: "boolean" } },
  required: ["condition"],
  title: "IfParams",
  type: "object",
};
const setSchema = {
  additionalProperties: false,
  properties: {
    fields: { additionalProperties: true, title: "Fields", type: "object" },
    keep_only_set: { default: false, title: "Keep Only Set", type: "boolean" },
  },
  type: "object",
};
const waitSchema = {
  properties: {
    seconds: { anyOf: [{ minimum: 0, type: "number" }, { type: "null" }], default: null, title: "Seconds" },
    until: { anyOf: [{ format: "date-time", type: "string" }, { type: "null" }], default: null, title: "Until" },
  },
  type: "object",
};

function Harness({ schema, initial, seen }: { schema: Record<string, unknown>; initial: Record<string, unknown>; seen: Record<string, unknown>[] }) {
  const [value, setValue] = useState(initial);
  return (
    <ParamsForm
      schema={schema}
      value={value}
      onChange={(next) => {
        seen.push(next);
        setValue(next);
      }}
    />
  );
}

describe("prepareSchema", () => {
  it("folds nullable anyOf into the one real type", () => {
    const schema = prepareSchema(waitSchema);
    expect(schema.properties!.seconds).toEqual({ minimum: 0, type: "number", title: "Seconds" });
    expect((schema.properties!.until as { format: string }).format).toBe("date-time");
  });
  it("gives free-form objects key/value rows and code a text area", () => {
    const ui = uiSchemaFor(prepareSchema({ type: "object", properties: { fields: { type: "object", additionalProperties: true }, code: { type: "string" } } }));
    expect(ui.fields).toEqual({ "ui:field": "keyValue" });
    expect(ui.code["ui:widget"]).toBe("textarea");
  });
  it("drops schema errors on expressions but keeps the others", () => {
    const errors = [
      { name: "type", property: ".condition", message: "must be boolean", stack: "", schemaPath: "" },
      { name: "type", property: ".count", message: "must be number", stack: "", schemaPath: "" },
    ];
    expect(dropExpressionErrors({ condition: "{{ item.n > 10 }}", count: "x" })(errors).map((e) => e.property)).toEqual([".count"]);
  });
});

describe("ParamsForm", () => {
  it("renders a field per schema property", () => {
    renderWithProviders(<Harness schema={waitSchema} initial={{}} seen={[]} />);
    expect(screen.getByText("Seconds")).toBeInTheDocument();
    expect(screen.getByText("Until")).toBeInTheDocument();
  });

  it("lets a boolean field hold an {{ }} expression", () => {
    const seen: Record<string, unknown>[] = [];
    renderWithProviders(<Harness schema={ifSchema} initial={{}} seen={seen} />);
    fireEvent.click(screen.getByTestId("fx-root_condition"));
    const input = screen.getByTestId("expr-root_condition");
    fireEvent.change(input, { target: { value: "{{ item.n > 10 }}" } });
    expect(seen.at(-1)).toEqual({ condition: "{{ item.n > 10 }}" });
  });

  it("opens an existing expression as an expression", () => {
    renderWithProviders(<Harness schema={ifSchema} initial={{ condition: "{{ item.ok }}" }} seen={[]} />);
    expect(screen.getByTestId("expr-root_condition")).toHaveValue("{{ item.ok }}");
  });

  it("edits a free-form object as key/value rows", () => {
    const seen: Record<string, unknown>[] = [];
    renderWithProviders(<Harness schema={setSchema} initial={{ fields: { doubled: "{{ item.n * 2 }}" } }} seen={seen} />);
    const rows = screen.getByTestId("kv-fields");
    expect(within(rows).getByTestId("kv-fields-value-0")).toHaveValue("{{ item.n * 2 }}");
    fireEvent.click(within(rows).getByTestId("kv-fields-add"));
    fireEvent.change(within(rows).getByTestId("kv-fields-key-1"), { target: { value: "label" } });
    fireEvent.change(within(rows).getByTestId("kv-fields-value-1"), { target: { value: "big" } });
    expect(seen.at(-1)).toMatchObject({ fields: { doubled: "{{ item.n * 2 }}", label: "big" } });
  });

  it("says so when a node has no parameters", () => {
    renderWithProviders(<Harness schema={{ type: "object", properties: {} }} initial={{}} seen={[]} />);
    expect(screen.getByText("This node has no parameters.")).toBeInTheDocument();
  });
});
