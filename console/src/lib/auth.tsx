/** Who is signed in, and what their role lets them do (the API refuses the rest anyway). */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { ApiError, client, setUnauthorizedHandler, unwrap, type Schemas } from "./api-client";

export type Me = Schemas["Me"];
export type Role = Me["role"];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, editor: 2, admin: 3 };

/** Whether `role` is at least `needed` (viewer < operator < editor < admin). */
export function allows(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[needed];
}

export const meQuery = {
  queryKey: ["me"],
  queryFn: async (): Promise<Me | null> => {
    try {
      return await unwrap(client.GET("/api/v1/auth/me"));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return null;
      throw error;
    }
  },
  staleTime: 60_000,
};

const MeContext = createContext<Me | null>(null);

export function MeProvider({ me, children }: { me: Me; children: ReactNode }) {
  const queryClient = useQueryClient();
  useEffect(() => {
    setUnauthorizedHandler(() => queryClient.setQueryData(["me"], null));
  }, [queryClient]);
  return <MeContext.Provider value={me}>{children}</MeContext.Provider>;
}

export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error("useMe outside a signed-in page");
  return me;
}

/** The most `me` may do in any of its projects (a platform admin: anything, anywhere). */
export function highestRole(me: Me | null | undefined): Role | undefined {
  if (!me) return undefined;
  if (me.platform_admin) return "admin";
  const roles = Object.values(me.projects ?? {}) as Role[];
  return roles.reduce<Role | undefined>((best, role) => (best === undefined || RANK[role] > RANK[best] ? role : best), undefined);
}

/** `useCan("editor")`: may the signed-in user do what needs this role in some project? `useCan("admin")` is a
 * platform admin (users, single sign-on, the audit trail); a project's own admins manage it on its page. */
export function useCan(needed: Role): boolean {
  const me = useContext(MeContext);
  if (needed === "admin") return !!me?.platform_admin;
  return allows(highestRole(me), needed);
}

export function useMeQuery() {
  return useQuery(meQuery);
}

export async function signIn(email: string, password: string) {
  await unwrap(client.POST("/api/v1/auth/session", { body: { email, password } }));
}

export async function setUp(email: string, password: string) {
  await unwrap(client.POST("/api/v1/auth/setup", { body: { email, password } }));
  await signIn(email, password);
}

export async function signOut() {
  await client.DELETE("/api/v1/auth/session");
}
