/** A node's parameters as a form generated from its JSON Schema (react-jsonschema-form, Mantine theme). */
import { ActionIcon, Button, Group, JsonInput, Stack, Text, TextInput, Tooltip } from "@mantine/core";
import { getDefaultRegistry, withTheme } from "@rjsf/core";
import { Theme } from "@rjsf/mantine";
import type { FieldProps, RegistryWidgetsType, WidgetProps } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { IconMathFunction, IconPlus, IconTrash } from "@tabler/icons-react";
import { useMemo, useState, type ComponentType } from "react";
import { dropExpressionErrors, isExpression, prepareSchema, uiSchemaFor } from "./schema";

const ThemedForm = withTheme(Theme);
// the theme's widgets, over core's (core's TextWidget renders the theme's input template)
const base = { ...getDefaultRegistry().widgets, ...Theme.widgets } as RegistryWidgetsType;

/** Wraps a theme widget so that its field can hold an `{{ }}` expression instead of a fixed value. */
function expressionAware(Base: ComponentType<WidgetProps>) {
  return function ExpressionWidget(props: WidgetProps) {
    const [expression, setExpression] = useState(isExpression(props.value));
    const text = props.schema.type === "string" && !props.schema.enum && !props.schema.format;
    // a text field takes an expression as it is; a number, a yes/no or a choice switches to an expression
    if (text) return <Base {...props} placeholder={props.placeholder || "a value or {{ expression }}"} />;
    const toggle = (
      <Tooltip label={expression ? "use a fixed value" : "use an expression"} withArrow>
        <ActionIcon
          variant={expression ? "filled" : "subtle"}
          size="sm"
          aria-label="expression"
          data-testid={`fx-${props.id}`}
          onClick={() => {
            setExpression(!expression);
            props.onChange(expression ? undefined : "{{  }}");
          }}
        >
          <IconMathFunction size={16} />
        </ActionIcon>
      </Tooltip>
    );
    if (expression) {
      return (
        <TextInput
          id={props.id}
          label={props.label}
          required={props.required}
          value={typeof props.value === "string" ? props.value : ""}
          placeholder="{{ item.n > 10 }}"
          onChange={(event) => props.onChange(event.currentTarget.value)}
          rightSection={toggle}
          styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
          data-testid={`expr-${props.id}`}
        />
      );
    }
    return (
      <Group align="flex-end" gap={4} wrap="nowrap">
        <div style={{ flex: 1 }}>
          <Base {...props} />
        </div>
        <div style={{ paddingBottom: 6 }}>{toggle}</div>
      </Group>
    );
  };
}

const widgets: RegistryWidgetsType = {
  ...base,
  TextWidget: expressionAware(base.TextWidget as ComponentType<WidgetProps>),
  CheckboxWidget: expressionAware(base.CheckboxWidget as ComponentType<WidgetProps>),
  SelectWidget: expressionAware(base.SelectWidget as ComponentType<WidgetProps>),
};

function asText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A free-form object (`set`'s fields, headers): one row per key; each value is text or an expression. */
function KeyValueField(props: FieldProps) {
  const initial = Object.entries((props.formData ?? {}) as Record<string, unknown>).map(([key, value]) => ({ key, value: asText(value) }));
  const [rows, setRows] = useState(initial);
  const original = (props.formData ?? {}) as Record<string, unknown>;
  const emit = (next: typeof rows) => {
    setRows(next);
    const object: Record<string, unknown> = {};
    for (const row of next) {
      if (!row.key) continue;
      const before = original[row.key];
      // a value that was not text (a number, a list) stays that type while its text is unchanged
      object[row.key] = before !== undefined && typeof before !== "string" && asText(before) === row.value ? before : row.value;
    }
    props.onChange(object, props.fieldPathId.path);
  };
  const name = props.name;
  return (
    <Stack gap={6} data-testid={`kv-${name}`}>
      <div>
        <Text size="sm" fw={500}>{props.schema.title ?? name}</Text>
        {props.schema.description && <Text size="xs" c="dimmed">{props.schema.description}</Text>}
      </div>
      {rows.map((row, index) => (
        <Group key={index} gap={4} wrap="nowrap">
          <TextInput
            placeholder="key"
            value={row.key}
            w="40%"
            data-testid={`kv-${name}-key-${index}`}
            onChange={(event) => emit(rows.map((r, i) => (i === index ? { ...r, key: event.currentTarget.value } : r)))}
          />
          <TextInput
            placeholder="value or {{ expression }}"
            value={row.value}
            style={{ flex: 1 }}
            data-testid={`kv-${name}-value-${index}`}
            styles={{ input: { fontFamily: isExpression(row.value) ? "var(--mantine-font-family-monospace)" : undefined } }}
            onChange={(event) => emit(rows.map((r, i) => (i === index ? { ...r, value: event.currentTarget.value } : r)))}
          />
          <ActionIcon variant="subtle" color="red" aria-label="remove" onClick={() => emit(rows.filter((_, i) => i !== index))}>
            <IconTrash size={16} />
          </ActionIcon>
        </Group>
      ))}
      <Button
        size="xs"
        variant="light"
        leftSection={<IconPlus size={14} />}
        w="fit-content"
        data-testid={`kv-${name}-add`}
        onClick={() => setRows([...rows, { key: "", value: "" }])}
      >
        Add {name === "headers" ? "header" : "field"}
      </Button>
    </Stack>
  );
}

/** Any JSON value (an untyped parameter such as a response body), or an expression as a string. */
function JsonValueField(props: FieldProps) {
  const [text, setText] = useState(props.formData === undefined ? "" : JSON.stringify(props.formData, null, 2));
  const [error, setError] = useState<string | null>(null);
  return (
    <JsonInput
      label={props.schema.title ?? props.name}
      description={`${props.schema.description ?? ""} JSON; an expression goes in quotes: "{{ item }}"`}
      value={text}
      error={error}
      autosize
      minRows={2}
      maxRows={10}
      onChange={(value) => {
        setText(value);
        if (!value.trim()) {
          setError(null);
          props.onChange(undefined, props.fieldPathId.path);
          return;
        }
        try {
          props.onChange(JSON.parse(value), props.fieldPathId.path);
          setError(null);
        } catch {
          setError("not valid JSON yet");
        }
      }}
    />
  );
}

const fields = { keyValue: KeyValueField, jsonValue: JsonValueField };

export function ParamsForm(props: {
  schema: Record<string, unknown> | undefined;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  readOnly?: boolean;
}) {
  const schema = useMemo(() => prepareSchema(props.schema), [props.schema]);
  const uiSchema = useMemo(() => uiSchemaFor(schema), [schema]);
  const hasFields = Object.keys(schema.properties ?? {}).length > 0;
  if (!hasFields) return <Text size="sm" c="dimmed">This node has no parameters.</Text>;
  return (
    <ThemedForm
      schema={schema}
      uiSchema={uiSchema}
      formData={props.value}
      validator={validator}
      widgets={widgets}
      fields={fields}
      liveValidate
      // never write a schema's defaults into the params: the node applies them itself, and some (an explicit
      // `"json": null`) mean something else when they are written out
      experimental_defaultFormStateBehavior={{ emptyObjectFields: "skipDefaults", arrayMinItems: { populate: "never" }, constAsDefaults: "never" }}
      showErrorList={false}
      noHtml5Validate
      readonly={props.readOnly}
      transformErrors={dropExpressionErrors(props.value)}
      onChange={(event) => props.onChange((event.formData ?? {}) as Record<string, unknown>)}
    />
  );
}
