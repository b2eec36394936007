import { fireEvent, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { renderWithProviders } from "@/test/render";
import { MembersTable, type Member } from "./MembersTable";

const members: Member[] = [
  { project_id: "p1", user_id: "u1", email: "ann@team.test", role: "admin", created_at: "2026-12-01T00:00:00Z" },
  { project_id: "p1", user_id: "u2", email: "bob@team.test", role: "viewer", created_at: "2026-12-01T00:00:00Z" },
];

describe("MembersTable", () => {
  it("shows each member's role and no remove button to those who cannot manage", () => {
    renderWithProviders(<MembersTable members={members} canManage={false} onRemove={vi.fn()} />);
    expect(screen.getByTestId("member-bob@team.test").textContent).toContain("viewer");
    expect(screen.queryByLabelText("remove bob@team.test")).toBeNull();
  });
  it("lets a project admin take someone out", () => {
    const onRemove = vi.fn();
    renderWithProviders(<MembersTable members={members} canManage onRemove={onRemove} />);
    fireEvent.click(screen.getByLabelText("remove bob@team.test"));
    expect(onRemove).toHaveBeenCalledWith(members[1]);
  });
});
