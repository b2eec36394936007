/**
 * Node parameter schemas made ready for the form: nullable `anyOf`s folded into their one real type, free-form
 * objects and untyped values given fields that can hold them, and expressions (`{{ }}`) accepted anywhere.
 */
import type { RJSFSchema, RJSFValidationError, UiSchema } from "@rjsf/utils";

type Schema = Record<string, unknown>;

export function isExpression(value: unknown): boolean {
  return typeof value === "string" && value.includes("{{");
}

function isNull(schema: unknown): boolean {
  return !!schema && typeof schema === "object" && (schema as Schema).type === "null";
}

/** `{"anyOf": [X, {"type": "null"}], "default": null}` becomes X: "not set" is what an empty field means. */
export function simplify(schema: Schema): Schema {
  const out: Schema = { ...schema };
  const variants = out.anyOf as Schema[] | undefined;
  if (Array.isArray(variants)) {
    const real = variants.filter((variant) => !isNull(variant));
    if (real.length === 1 && real.length < variants.length) {
      delete out.anyOf;
      Object.assign(out, { ...real[0], ...out });
      if (out.default === null) delete out.default;
    }
  }
  if (out.properties && typeof out.properties === "object") {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, Schema>).map(([key, value]) => [key, simplify(value)]),
    );
  }
  if (out.items && typeof out.items === "object" && !Array.isArray(out.items)) out.items = simplify(out.items as Schema);
  for (const defs of ["$defs", "definitions"]) {
    if (out[defs] && typeof out[defs] === "object") {
      out[defs] = Object.fromEntries(
        Object.entries(out[defs] as Record<string, Schema>).map(([key, value]) => {
          // a model's own name and docstring ("SwitchRule") say nothing to someone filling in the form
          const { title: _title, description: _description, ...rest } = simplify(value);
          return [key, rest];
        }),
      );
    }
  }
  return out;
}

export function prepareSchema(schema: Record<string, unknown> | undefined): RJSFSchema {
  const simplified = simplify(schema ?? { type: "object", properties: {} });
  delete simplified.title;
  delete simplified.description;
  return simplified as RJSFSchema;
}

function isFreeObject(schema: Schema): boolean {
  return schema.type === "object" && !schema.properties && schema.additionalProperties !== false;
}

/** Which field each property gets: key/value rows for free-form objects, a JSON editor for untyped values. */
export function uiSchemaFor(schema: RJSFSchema): UiSchema {
  const ui: UiSchema = { "ui:submitButtonOptions": { norender: true } };
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [key, property] of Object.entries(properties)) {
    const placeholder = defaultText(property.default);
    if (placeholder !== undefined) ui[key] = { "ui:placeholder": placeholder };
    if (isFreeObject(property)) ui[key] = { "ui:field": "keyValue" };
    else if (!property.type && !property.$ref && !property.enum && !property.const) ui[key] = { "ui:field": "jsonValue" };
    else if (Array.isArray(property.anyOf) || Array.isArray(property.oneOf)) ui[key] = { "ui:field": "jsonValue" };
    else if (property.type === "string" && (key === "code" || Number(property.maxLength ?? 0) >= 10_000)) {
      ui[key] = { ...ui[key], "ui:widget": "textarea", "ui:options": { rows: 10 } };
    }
  }
  return ui;
}

/** The default shown in an empty field (defaults are the node's, never written into the params). */
function defaultText(value: unknown): string | undefined {
  if (value === undefined || value === null || typeof value === "object") return undefined;
  return `default: ${String(value)}`;
}

function valueAt(data: unknown, property: string | undefined): unknown {
  if (!property) return undefined;
  const path = property.replace(/^\./, "").split(/\.|\[['"]?|['"]?\]/).filter(Boolean);
  let value: unknown = data;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Schema errors on values that are expressions say nothing: their type is known only when the node runs. */
export function dropExpressionErrors(formData: unknown) {
  return (errors: RJSFValidationError[]) =>
    errors.filter((error) => error.name === "required" || !isExpression(valueAt(formData, error.property)));
}
