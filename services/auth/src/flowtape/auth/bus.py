"""Bus handlers: translate a message into one call on the :class:`AuthService`, nothing more."""

from __future__ import annotations

from typing import Any

from flowtape.auth.application import AuthService
from flowtape.auth.projects import Projects
from flowtape.auth.single_sign_on import SingleSignOn
from flowtape.common.bus import Bus
from flowtape.common.bus.base import Handlers
from flowtape.common.messages import auth as msg
from flowtape.common.topology import AUTH_AUDIT_QUEUE, AUTH_REQUESTS_QUEUE


def subscribe(
    bus: Bus, auth: AuthService, sso: SingleSignOn, projects: Projects, backup: Handlers | None = None
) -> None:
    """``backup``: the backup-and-restore handlers, answered on the requests queue too."""

    async def set_up(m: msg.SetUp) -> Any:
        return await auth.set_up(m.email, m.sealed_password, m.client_address)

    async def login(m: msg.Login) -> Any:
        return await auth.login(m.email, m.sealed_password, m.client_address, m.user_agent)

    async def create_user(m: msg.CreateUser) -> Any:
        return await auth.create_user(m.email, m.sealed_password, m.role, m.actor)

    async def get_user(m: msg.GetUser) -> Any:
        return await auth.get_user(m.user_id)

    async def list_users(m: msg.ListUsers) -> Any:
        return await auth.list_users(m.limit, m.cursor)

    async def update_user(m: msg.UpdateUser) -> Any:
        return await auth.update_user(m.user_id, m.role, m.disabled, m.actor)

    async def create_api_key(m: msg.CreateApiKey) -> Any:
        return await auth.create_api_key(m.key_id, m.key_hash, m.name, m.role, m.expires_at, m.actor, m.project_id)

    async def list_api_keys(m: msg.ListApiKeys) -> Any:
        return await auth.list_api_keys(m.limit, m.cursor, m.project_ids)

    async def revoke_api_key(m: msg.RevokeApiKey) -> Any:
        return await auth.revoke_api_key(m.key_id, m.actor, m.project_ids)

    async def verify_api_key(m: msg.VerifyApiKey) -> Any:
        return await auth.verify_api_key(m.key_id, m.key_hash)

    async def public_keys(_: msg.GetPublicKeys) -> Any:
        return await auth.public_keys()

    async def access_state(_: msg.GetAccessState) -> Any:
        return await auth.access_state()

    async def rotate_keys(m: msg.RotateKeys) -> Any:
        return await auth.rotate_keys(m.actor)

    async def list_audit(m: msg.ListAudit) -> Any:
        return await auth.list_audit(m.limit, m.cursor, m.action, m.actor_id)

    async def list_sessions(m: msg.ListSessions) -> Any:
        return await auth.list_sessions(m.user_id, m.active_only, m.limit, m.cursor)

    async def revoke_session(m: msg.RevokeSession) -> Any:
        return await auth.revoke_session(m.session_id, m.owner_id, m.actor, m.reason)

    async def request_password_reset(m: msg.RequestPasswordReset) -> Any:
        return await auth.request_password_reset(m.email, m.client_address)

    async def reset_password(m: msg.ResetPassword) -> Any:
        return await auth.reset_password(m.token, m.sealed_password, m.client_address)

    async def request_email_verification(m: msg.RequestEmailVerification) -> Any:
        return await auth.request_email_verification(m.user_id, m.client_address)

    async def verify_email(m: msg.VerifyEmail) -> Any:
        return await auth.verify_email(m.token, m.client_address)

    async def invite(m: msg.Invite) -> Any:
        return await auth.invite(m.email, m.role, m.actor, m.project_id)

    async def list_invitations(m: msg.ListInvitations) -> Any:
        return await auth.list_invitations(m.limit, m.cursor)

    async def revoke_invitation(m: msg.RevokeInvitation) -> Any:
        return await auth.revoke_invitation(m.invitation_id, m.actor)

    async def accept_invitation(m: msg.AcceptInvitation) -> Any:
        return await auth.accept_invitation(m.token, m.sealed_password, m.client_address)

    async def list_sso_providers(_: msg.ListSsoProviders) -> Any:
        return await sso.list_providers()

    async def sso_options(_: msg.GetSsoOptions) -> Any:
        return await sso.options()

    async def create_sso_provider(m: msg.CreateSsoProvider) -> Any:
        return await sso.create_provider(m.name, m.provider_kind, m.fields, m.sealed_client_secret, m.actor)

    async def update_sso_provider(m: msg.UpdateSsoProvider) -> Any:
        return await sso.update_provider(m.name, m.fields, m.sealed_client_secret, m.actor)

    async def delete_sso_provider(m: msg.DeleteSsoProvider) -> Any:
        return await sso.delete_provider(m.name, m.actor)

    async def set_sso_settings(m: msg.SetSsoSettings) -> Any:
        return await sso.set_settings(m.require_sso, m.actor)

    async def start_sso(m: msg.StartSsoSignIn) -> Any:
        return await sso.start(m.provider, m.redirect_uri)

    async def complete_sso(m: msg.CompleteSsoSignIn) -> Any:
        return await sso.complete(
            m.provider, m.state, m.code, m.error, m.error_description, m.client_address, m.user_agent
        )

    async def create_project(m: msg.CreateProject) -> Any:
        return await projects.create_project(m.name, m.actor)

    async def list_projects(m: msg.ListProjects) -> Any:
        return await projects.list_projects(m.user_id)

    async def get_project(m: msg.GetProject) -> Any:
        return await projects.get_project(m.project_id)

    async def add_project_member(m: msg.AddProjectMember) -> Any:
        return await projects.add_member(m.project_id, m.email, m.role, m.actor)

    async def remove_project_member(m: msg.RemoveProjectMember) -> Any:
        return await projects.remove_member(m.project_id, m.user_id, m.actor)

    async def list_project_members(m: msg.ListProjectMembers) -> Any:
        return await projects.list_members(m.project_id)

    async def memberships(m: msg.GetMemberships) -> Any:
        return await projects.memberships(m.user_id)

    async def record_audit(m: msg.RecordAudit) -> None:
        await auth.record(m)

    bus.subscribe(
        AUTH_REQUESTS_QUEUE,
        {
            **(backup or {}),
            msg.SetUp: set_up,
            msg.Login: login,
            msg.CreateUser: create_user,
            msg.GetUser: get_user,
            msg.ListUsers: list_users,
            msg.UpdateUser: update_user,
            msg.CreateApiKey: create_api_key,
            msg.ListApiKeys: list_api_keys,
            msg.RevokeApiKey: revoke_api_key,
            msg.VerifyApiKey: verify_api_key,
            msg.GetPublicKeys: public_keys,
            msg.GetAccessState: access_state,
            msg.RotateKeys: rotate_keys,
            msg.ListAudit: list_audit,
            msg.ListSessions: list_sessions,
            msg.RevokeSession: revoke_session,
            msg.RequestPasswordReset: request_password_reset,
            msg.ResetPassword: reset_password,
            msg.RequestEmailVerification: request_email_verification,
            msg.VerifyEmail: verify_email,
            msg.Invite: invite,
            msg.ListInvitations: list_invitations,
            msg.RevokeInvitation: revoke_invitation,
            msg.AcceptInvitation: accept_invitation,
            msg.ListSsoProviders: list_sso_providers,
            msg.GetSsoOptions: sso_options,
            msg.CreateSsoProvider: create_sso_provider,
            msg.UpdateSsoProvider: update_sso_provider,
            msg.DeleteSsoProvider: delete_sso_provider,
            msg.SetSsoSettings: set_sso_settings,
            msg.StartSsoSignIn: start_sso,
            msg.CompleteSsoSignIn: complete_sso,
            msg.CreateProject: create_project,
            msg.ListProjects: list_projects,
            msg.GetProject: get_project,
            msg.AddProjectMember: add_project_member,
            msg.RemoveProjectMember: remove_project_member,
            msg.ListProjectMembers: list_project_members,
            msg.GetMemberships: memberships,
        },
        prefetch=32,
    )
    bus.subscribe(AUTH_AUDIT_QUEUE, {msg.RecordAudit: record_audit}, prefetch=32)
