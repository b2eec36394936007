/** Bulk replay by query (`POST /executions/replay`): every run of a workflow with a status replayed, a canary
 * first — the rest start only if the canary all succeeded — with the job's progress polled until it ends. A dry
 * run lists the runs and, on another version, which would take another path. */
import { Alert, Badge, Button, Checkbox, Group, Modal, NumberInput, Progress, SegmentedControl, Stack, Table, Text } from "@mantine/core";
import { IconRepeat } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { client, unwrap, type Schemas } from "@/lib/api-client";

export type Job = Schemas["BulkReplayJob"];
const ENDED: Job["state"][] = ["planned", "canary_failed", "succeeded", "failed", "interrupted"];

export function jobSummary(job: Job): string {
  const started = job.items.filter((i) => i.execution_id).length;
  const failed = job.items.filter((i) => i.outcome === "failed").length;
  switch (job.state) {
    case "planned":
      return `dry run: ${job.total} run(s) would be replayed, the first ${Math.min(job.canary, job.total)} as the canary`;
    case "canary_failed":
      return `the canary failed (${failed} failed): nothing else was started`;
    case "running":
      return `${job.done} of ${job.total} done`;
    default:
      return `${job.state}: ${job.done} of ${job.total} done, ${started} started, ${failed} failed`;
  }
}

function JobView({ job }: { job: Job }) {
  return (
    <Stack gap="xs" data-testid="bulk-job">
      <Group justify="space-between">
        <Text size="sm" data-testid="bulk-summary">{jobSummary(job)}</Text>
        <Badge color={job.state === "succeeded" || job.state === "planned" ? "green" : job.state === "running" ? "blue" : "red"} data-testid="bulk-state">{job.state}</Badge>
      </Group>
      {job.total > 0 && <Progress value={(job.done / job.total) * 100} aria-label="replayed" />}
      <Table verticalSpacing={2}>
        <Table.Thead>
          <Table.Tr><Table.Th>run</Table.Th><Table.Th>phase</Table.Th><Table.Th>outcome</Table.Th><Table.Th>replay</Table.Th></Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {job.items.map((item) => (
            <Table.Tr key={item.source}>
              <Table.Td><Link to={`/executions/${item.source}`}>{item.source.slice(0, 8)}</Link></Table.Td>
              <Table.Td>{item.phase}</Table.Td>
              <Table.Td>{item.outcome}{item.other_path?.length ? ` (another path at ${item.other_path.join(", ")})` : ""}</Table.Td>
              <Table.Td>{item.execution_id ? <Link to={`/executions/${item.execution_id}`}>{item.execution_id.slice(0, 8)}</Link> : "—"}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}

function BulkReplayModal(props: { workflowId: string; workflowName: string; onClose: () => void }) {
  const [status, setStatus] = useState<"failed" | "succeeded" | "cancelled">("failed");
  const [canary, setCanary] = useState<number>(5);
  const [latest, setLatest] = useState(true);
  const [dryRun, setDryRun] = useState(true);
  const [jobId, setJobId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const job = useQuery({
    queryKey: ["bulk-replay", jobId],
    enabled: !!jobId,
    queryFn: () => unwrap(client.GET("/api/v1/executions/replay/{job_id}", { params: { path: { job_id: jobId! } } })),
    refetchInterval: (query) => (query.state.data && ENDED.includes(query.state.data.state) ? false : 1000),
  });
  const start = async () => {
    setError(null);
    try {
      const made = await unwrap(
        client.POST("/api/v1/executions/replay", {
          body: { workflow_id: props.workflowId, status, canary, workflow_version: latest ? "latest" : "original", dry_run: dryRun, parallelism: 4 },
        }),
      );
      setJobId(made.id);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Modal opened onClose={props.onClose} title={`Replay runs of ${props.workflowName}`} size="lg">
      <Stack>
        <Group align="flex-end">
          <SegmentedControl value={status} onChange={(v) => setStatus(v as typeof status)} data={["failed", "succeeded", "cancelled"]} data-testid="bulk-status" />
          <NumberInput label="Canary" description="replayed first; the rest only if all succeed" min={0} value={canary} onChange={(v) => setCanary(typeof v === "number" ? v : 0)} w={200} data-testid="bulk-canary" />
        </Group>
        <Checkbox label="on the workflow's latest version (else each run's own)" checked={latest} onChange={(e) => setLatest(e.currentTarget.checked)} />
        <Checkbox label="dry run: start nothing, list the runs and which would take another path" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} data-testid="bulk-dry-run" />
        {error && <Alert color="red">{error}</Alert>}
        <Button leftSection={<IconRepeat size={16} />} onClick={start} data-testid="bulk-start">{dryRun ? "Plan" : "Replay"}</Button>
        {job.error && <Alert color="red">{job.error.message}</Alert>}
        {job.data && <JobView job={job.data} />}
      </Stack>
    </Modal>
  );
}

/** The button (for operators, once a workflow is chosen) and its modal. */
export function BulkReplay(props: { workflowId: string; workflowName: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button variant="light" leftSection={<IconRepeat size={16} />} onClick={() => setOpen(true)} data-testid="bulk-replay">Replay runs…</Button>
      {open && <BulkReplayModal workflowId={props.workflowId} workflowName={props.workflowName} onClose={() => setOpen(false)} />}
    </>
  );
}
