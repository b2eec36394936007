"""Where a variable belongs: its project, or one workflow of it, and the row its ciphertext is bound to."""

from __future__ import annotations

import pytest

from flowtape.connectors.domain.variable_scopes import associated_data, project_scope, scope_of, workflow_of

WORKFLOW = "0b6c8f0e-5d5f-4a57-9c64-3d0f4a1f2b7e"


@pytest.mark.parametrize(
    ("workflow_id", "project_id", "scope"),
    [
        (None, "default", "project:default"),
        (None, "ops", "project:ops"),
        (WORKFLOW, "ops", WORKFLOW),  # a workflow's own: its project is kept on the row, not in the scope
    ],
)
def test_the_scope_of_a_variable(workflow_id: str | None, project_id: str, scope: str) -> None:
    assert scope_of(workflow_id, project_id) == scope


@pytest.mark.parametrize(("scope", "workflow"), [(project_scope("ops"), None), (WORKFLOW, WORKFLOW)])
def test_a_scope_names_its_workflow_or_none(scope: str, workflow: str | None) -> None:
    assert workflow_of(scope) == workflow


def test_a_ciphertext_is_bound_to_its_scope_and_name() -> None:
    bound = {
        associated_data(project_scope("ops"), "token"),
        associated_data(project_scope("dev"), "token"),
        associated_data(project_scope("ops"), "other"),
        associated_data(WORKFLOW, "token"),
    }
    assert len(bound) == 4
