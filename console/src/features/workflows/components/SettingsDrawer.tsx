/** A workflow's own settings, saved with its next version: how many of its runs go at once (the rest queue), how
 * long a run may take, and how long its runs are kept (retention; empty: the platform's policy). */
import { Button, Drawer, NumberInput, Stack, Text, Title } from "@mantine/core";
import { useState } from "react";

export type Settings = Record<string, unknown>;
type Retention = { days?: number | null; runs?: number | null; failed_days?: number | null };

/** ``settings`` with ``key`` set to a whole number, or left out when empty (so the default applies). */
export function withNumber(settings: Settings, key: string, value: number | string): Settings {
  const next = { ...settings };
  if (typeof value === "number" && Number.isFinite(value)) next[key] = Math.trunc(value);
  else delete next[key];
  return next;
}

/** ``settings.retention`` with one of its keys set or cleared; no retention object at all when every key is empty. */
export function withRetention(settings: Settings, key: keyof Retention, value: number | string): Settings {
  const retention = withNumber((settings.retention as Retention | undefined) ?? {}, key, value) as Retention;
  const next = { ...settings };
  if (Object.keys(retention).length) next.retention = retention;
  else delete next.retention;
  return next;
}

export function SettingsDrawer(props: { opened: boolean; settings: Settings; editable: boolean; onClose: () => void; onChange: (s: Settings) => void }) {
  const [draft, setDraft] = useState<Settings>(props.settings);
  const retention = (draft.retention as Retention | undefined) ?? {};
  const number = (value: unknown) => (typeof value === "number" ? value : "");
  return (
    <Drawer opened={props.opened} onClose={props.onClose} position="right" title="Workflow settings" size={420}>
      <Stack>
        <NumberInput label="Runs at once" description="more starts queue (status queued) in the order they came; empty: no limit" min={1} max={100000} allowDecimal={false} value={number(draft.max_concurrent_runs)} onChange={(v) => setDraft(withNumber(draft, "max_concurrent_runs", v))} disabled={!props.editable} data-testid="setting-max_concurrent_runs" />
        <NumberInput label="Run timeout (seconds)" description="a run still going after this is cancelled; empty: none" min={1} allowDecimal={false} value={number(draft.timeout_seconds)} onChange={(v) => setDraft(withNumber(draft, "timeout_seconds", v))} disabled={!props.editable} data-testid="setting-timeout_seconds" />
        <Title order={6}>Keep runs</Title>
        <Text size="xs" c="dimmed">Older runs are pruned (their summary stays). Empty: the platform's retention policy.</Text>
        <NumberInput label="Days" min={0} allowDecimal={false} value={number(retention.days)} onChange={(v) => setDraft(withRetention(draft, "days", v))} disabled={!props.editable} data-testid="setting-retention-days" />
        <NumberInput label="Newest runs" min={0} allowDecimal={false} value={number(retention.runs)} onChange={(v) => setDraft(withRetention(draft, "runs", v))} disabled={!props.editable} data-testid="setting-retention-runs" />
        <NumberInput label="Days for failed runs" min={0} allowDecimal={false} value={number(retention.failed_days)} onChange={(v) => setDraft(withRetention(draft, "failed_days", v))} disabled={!props.editable} data-testid="setting-retention-failed_days" />
        {props.editable && (
          <Button onClick={() => { props.onChange(draft); props.onClose(); }} data-testid="settings-apply">
            Apply (save to keep them)
          </Button>
        )}
      </Stack>
    </Drawer>
  );
}
