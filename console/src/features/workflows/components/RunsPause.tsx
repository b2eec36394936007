/**
 * The kill switch of one workflow: pause its runs (new starts queue, running runs are held at their next step)
 * and resume them. A pause of every workflow is shown and cannot be lifted here.
 */
import { Switch, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { fetchRunPauses, setRunsPaused } from "../api";

const KEY = ["run-pauses"];

export function RunsPause({ workflowId }: { workflowId: string }) {
  const queryClient = useQueryClient();
  const pauses = useQuery({ queryKey: KEY, queryFn: fetchRunPauses });
  const all = pauses.data?.all ?? false;
  const paused = all || (pauses.data?.workflows ?? []).includes(workflowId);
  const toggle = (
    <Switch
      size="xs"
      color="orange"
      label="Runs paused"
      checked={paused}
      disabled={!pauses.data || all}
      data-testid="runs-paused-toggle"
      onChange={async (event) => {
        try {
          queryClient.setQueryData(KEY, await setRunsPaused(workflowId, event.currentTarget.checked));
        } catch (error) {
          notifications.show({ color: "red", message: String((error as Error).message) });
        }
      }}
    />
  );
  return all ? <Tooltip label="every workflow's runs are paused (flowtape admin resume)">{toggle}</Tooltip> : toggle;
}
