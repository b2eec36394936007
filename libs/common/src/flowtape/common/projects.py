"""Projects: the boundary around a team's workflows, runs, credentials and variables (issue 16).

Auth owns projects and their members; every other service stores a ``project_id`` beside what it owns and the
gateway decides, per request, which projects a caller may see and act in. Whatever existed before projects
lives in :data:`DEFAULT_PROJECT`: a fixed id, so each service migrates its own rows with no step between them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

#: the project everything made before projects existed moves into, and where a caller's things go by default
DEFAULT_PROJECT = "default"

PROJECT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

ProjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=PROJECT_ID_PATTERN)]


def well_formed(project_id: str) -> bool:
    """Whether ``project_id`` could name a project: what is not is nobody's, answered before any lookup."""
    return re.fullmatch(PROJECT_ID_PATTERN, project_id) is not None
