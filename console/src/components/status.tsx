import { Badge } from "@mantine/core";

export const STATUS_COLORS: Record<string, string> = {
  succeeded: "green",
  failed: "red",
  running: "blue",
  scheduled: "cyan",
  waiting: "yellow",
  paused: "orange",
  queued: "violet",
  cancelled: "gray",
  skipped: "gray",
  pending: "gray",
};

export function StatusBadge({ status, size = "sm" }: { status?: string | null; size?: "xs" | "sm" | "md" }) {
  if (!status) return <Badge size={size} variant="light" color="gray">never run</Badge>;
  return (
    <Badge size={size} variant="light" color={STATUS_COLORS[status] ?? "gray"}>
      {status}
    </Badge>
  );
}
