import { fireEvent, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { renderWithProviders } from "@/test/render";
import { VariablesTable, type Variable } from "./VariablesTable";

const variables: Variable[] = [
  { name: "REGION", workflow_id: null, project_id: "default", secret: false, value: "eu", updated_at: "2026-12-01T00:00:00Z" },
  { name: "TOKEN", workflow_id: null, project_id: "default", secret: true, value: null, updated_at: "2026-12-01T00:00:00Z" },
];

describe("VariablesTable", () => {
  it("shows plain values and only a badge for a secret one", () => {
    renderWithProviders(<VariablesTable variables={variables} canEdit={false} onEdit={vi.fn()} onDelete={vi.fn()} />);
    expect(screen.getByTestId("variable-REGION").textContent).toContain("eu");
    const secret = screen.getByTestId("variable-TOKEN");
    expect(secret.textContent).toContain("vars.TOKEN");
    expect(secret.textContent).toContain("secret");
    expect(screen.queryByLabelText("edit REGION")).toBeNull();
  });
  it("offers editors to edit and delete", () => {
    const onEdit = vi.fn();
    const onDelete = vi.fn();
    renderWithProviders(<VariablesTable variables={variables} canEdit onEdit={onEdit} onDelete={onDelete} />);
    fireEvent.click(screen.getByLabelText("edit TOKEN"));
    fireEvent.click(screen.getByLabelText("delete REGION"));
    expect(onEdit).toHaveBeenCalledWith(variables[1]);
    expect(onDelete).toHaveBeenCalledWith(variables[0]);
  });
});
