/** Group → role grants as an admin types them: one `group=role` a line. */
import type { Role } from "@/lib/auth";

export const ROLES: Role[] = ["viewer", "operator", "editor", "admin"];

export type Grant = { group: string; role: Role };

export function parseGrants(text: string): { grants: Grant[]; problem: string | null } {
  const grants: Grant[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.lastIndexOf("=");
    const group = line.slice(0, at).trim();
    const role = line.slice(at + 1).trim() as Role;
    if (at <= 0 || !group || !ROLES.includes(role)) {
      return { grants, problem: `line ${index + 1}: write group=role, the role one of ${ROLES.join(", ")}` };
    }
    grants.push({ group, role });
  }
  return { grants, problem: null };
}

export function formatGrants(grants: Grant[]): string {
  return grants.map((g) => `${g.group}=${g.role}`).join("\n");
}
