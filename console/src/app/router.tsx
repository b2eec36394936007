import { createBrowserRouter } from "react-router-dom";
import { AccountPage } from "@/features/account/AccountPage";
import { AuditPage } from "@/features/admin/AuditPage";
import { DeadLettersPage } from "@/features/admin/DeadLettersPage";
import { UsersPage } from "@/features/admin/UsersPage";
import { CredentialsPage } from "@/features/credentials/CredentialsPage";
import { VariablesPage } from "@/features/variables/VariablesPage";
import { DashboardPage } from "@/features/dashboard/DashboardPage";
import { ExecutionPage } from "@/features/executions/ExecutionPage";
import { ExecutionsPage } from "@/features/executions/ExecutionsPage";
import { TriggersPage } from "@/features/triggers/TriggersPage";
import { EditorPage } from "@/features/workflows/EditorPage";
import { WorkflowsPage } from "@/features/workflows/WorkflowsPage";
import { Layout, NotFound } from "./Layout";
import { SsoPage } from "@/features/sso/SsoPage";
import { ProjectsPage } from "@/features/projects/ProjectsPage";
import { TemplatesPage } from "@/features/templates/TemplatesPage";

export const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { path: "/", element: <DashboardPage /> },
      { path: "/workflows", element: <WorkflowsPage /> },
      { path: "/workflows/new", element: <EditorPage /> },
      { path: "/workflows/:workflowId", element: <EditorPage /> },
      { path: "/templates", element: <TemplatesPage /> },
      { path: "/executions", element: <ExecutionsPage /> },
      { path: "/executions/:executionId", element: <ExecutionPage /> },
      { path: "/credentials", element: <CredentialsPage /> },
      { path: "/variables", element: <VariablesPage /> },
      { path: "/triggers", element: <TriggersPage /> },
      { path: "/users", element: <UsersPage /> },
      { path: "/audit", element: <AuditPage /> },
      { path: "/sso", element: <SsoPage /> },
      { path: "/projects", element: <ProjectsPage /> },
      { path: "/dead-letters", element: <DeadLettersPage /> },
      { path: "/account", element: <AccountPage /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
