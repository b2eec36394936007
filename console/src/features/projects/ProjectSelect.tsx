/** Choosing a project where something goes or is shown: one hook for the caller's projects (cached under
 * ["projects"], shared by every page), and a picker shown only when there is a choice to make. */
import { Select } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { client, unwrap, type Schemas } from "@/lib/api-client";
import { allows, type Role } from "@/lib/auth";

type Project = Schemas["ProjectView"];

export function useProjects() {
  return useQuery({ queryKey: ["projects"], queryFn: () => unwrap(client.GET("/api/v1/projects")), staleTime: 30_000 });
}

/** The projects where the caller holds ``role`` (a platform admin's listing has a role of null: every one). */
export function projectsWhere(projects: Project[], role: Role): Project[] {
  return projects.filter((project) => project.role == null || allows(project.role as Role, role));
}

export function ProjectSelect(props: { value: string | null; onChange: (id: string) => void; role: Role; testId: string; label?: string; width?: number; size?: "xs" | "sm" }) {
  const projects = useProjects();
  const choices = projectsWhere(projects.data?.items ?? [], props.role);
  if (choices.length <= 1) return null;
  return (
    <Select
      label={props.label}
      aria-label={props.label ?? "Project"}
      w={props.width ?? 320}
      size={props.size}
      data={choices.map((p) => ({ value: p.id, label: p.name }))}
      value={props.value}
      onChange={(value) => value && props.onChange(value)}
      allowDeselect={false}
      data-testid={props.testId}
    />
  );
}
