import dayjs from "dayjs";
import relativeTime from "dayjs/plugin/relativeTime";

dayjs.extend(relativeTime);

export function ago(iso: string | null | undefined): string {
  return iso ? dayjs(iso).fromNow() : "—";
}

export function when(iso: string | null | undefined): string {
  return iso ? dayjs(iso).format("YYYY-MM-DD HH:mm:ss") : "—";
}

export function duration(start: string | null | undefined, end: string | null | undefined): string {
  if (!start || !end) return "—";
  const ms = dayjs(end).diff(dayjs(start));
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
