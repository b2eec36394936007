import { AppShell, Badge, Button, Group, NavLink, Stack, Text, Title } from "@mantine/core";
import {
  IconActivity,
  IconBolt,
  IconClockPlay,
  IconGauge,
  IconHierarchy2,
  IconInbox,
  IconKey,
  IconListDetails,
  IconLogin2,
  IconStack2,
  IconTemplate,
  IconUserCircle,
  IconUsers,
  IconVariable,
} from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import { Link, Outlet, useLocation } from "react-router-dom";
import { allows, highestRole, signOut, useMe, type Role } from "@/lib/auth";

const LINKS: { to: string; label: string; icon: typeof IconGauge; role: Role }[] = [
  { to: "/", label: "Dashboard", icon: IconGauge, role: "viewer" },
  { to: "/workflows", label: "Workflows", icon: IconHierarchy2, role: "viewer" },
  { to: "/templates", label: "Templates", icon: IconTemplate, role: "viewer" },
  { to: "/executions", label: "Executions", icon: IconActivity, role: "viewer" },
  { to: "/credentials", label: "Credentials", icon: IconKey, role: "viewer" },
  { to: "/variables", label: "Variables", icon: IconVariable, role: "viewer" },
  { to: "/triggers", label: "Triggers", icon: IconClockPlay, role: "viewer" },
  { to: "/users", label: "Users & API keys", icon: IconUsers, role: "admin" },
  { to: "/sso", label: "Single sign-on", icon: IconLogin2, role: "admin" },
  { to: "/audit", label: "Audit trail", icon: IconListDetails, role: "admin" },
  { to: "/projects", label: "Projects", icon: IconStack2, role: "viewer" },
  { to: "/dead-letters", label: "Dead letters", icon: IconInbox, role: "admin" },
  { to: "/account", label: "Your account", icon: IconUserCircle, role: "viewer" },
];

export function Layout() {
  const me = useMe();
  const location = useLocation();
  const queryClient = useQueryClient();
  const active = (to: string) => (to === "/" ? location.pathname === "/" : location.pathname.startsWith(to));
  return (
    <AppShell header={{ height: 52 }} navbar={{ width: 210, breakpoint: 0 }} padding={0}>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap={8}>
            <IconBolt size={22} color="var(--mantine-color-blue-6)" />
            <Title order={4}>Flowtape</Title>
          </Group>
          <Group gap="sm">
            <Text size="sm" data-testid="me-email" component={Link} to="/account">
              {me.email}
            </Text>
            <Badge variant="light" data-testid="me-role">{me.platform_admin ? "admin" : (highestRole(me) ?? "no project")}</Badge>
            <Button
              size="xs"
              variant="subtle"
              onClick={async () => {
                await signOut();
                queryClient.setQueryData(["me"], null);
              }}
            >
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs">
        <Stack gap={2}>
          {LINKS.filter((link) => (link.role === "admin" ? me.platform_admin : allows(highestRole(me), link.role))).map((link) => (
            <NavLink
              key={link.to}
              component={Link}
              to={link.to}
              label={link.label}
              leftSection={<link.icon size={18} stroke={1.6} />}
              active={active(link.to)}
            />
          ))}
        </Stack>
      </AppShell.Navbar>
      <AppShell.Main h="100vh" style={{ display: "flex", flexDirection: "column" }}>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}

export function NotFound() {
  return (
    <Stack p="xl">
      <Title order={3}>Not found</Title>
      <Text>
        There is no page here. <Link to="/">Go to the dashboard</Link>.
      </Text>
    </Stack>
  );
}
