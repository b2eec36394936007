/** Pages opened from a mailed link: choose a new password, or confirm an email address. The token is in the
 * URL's fragment (it never reaches a server log); each works signed in or not. */
import { Alert, Anchor, Button, Center, Loader, Paper, PasswordInput, Stack, Text, Title } from "@mantine/core";
import { useEffect, useState, type ReactNode } from "react";
import { client, unwrap } from "@/lib/api-client";

export function tokenFromFragment(hash: string): string {
  return new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Center h="100vh" bg="gray.0">
      <Paper withBorder shadow="sm" p="xl" radius="md" w={400}>
        <Stack>
          <Title order={2}>{title}</Title>
          {children}
        </Stack>
      </Paper>
    </Center>
  );
}

const backToConsole = (
  <Anchor href="/" data-testid="back-to-sign-in">
    Go to the console
  </Anchor>
);

export function ResetPassword() {
  const token = tokenFromFragment(window.location.hash);
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  if (done) {
    return (
      <Card title="Password changed">
        <Text size="sm">Your new password is set, and every session of your account was signed out.</Text>
        {backToConsole}
      </Card>
    );
  }
  return (
    <Card title="Choose a new password">
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          if (password !== confirm) {
            setError("the passwords differ");
            return;
          }
          setBusy(true);
          setError(null);
          try {
            await unwrap(client.POST("/api/v1/auth/password-reset/confirm", { body: { token, password } }));
            window.history.replaceState(null, "", "/reset-password");
            setDone(true);
          } catch (e) {
            setError((e as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <Stack>
          {!token && <Alert color="red">This link has no token; open the link from the mail again.</Alert>}
          {error && <Alert color="red">{error}</Alert>}
          <PasswordInput label="New password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} data-testid="new-password" />
          <PasswordInput label="Repeat it" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.currentTarget.value)} data-testid="new-password-confirm" />
          <Button type="submit" loading={busy} disabled={!token} data-testid="reset-submit">
            Set the new password
          </Button>
        </Stack>
      </form>
    </Card>
  );
}

export function AcceptInvitation() {
  const token = tokenFromFragment(window.location.hash);
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [joined, setJoined] = useState<string | null>(null);
  if (joined) {
    return (
      <Card title="Welcome">
        <Text size="sm">Your account {joined} is ready: sign in with your new password.</Text>
        {backToConsole}
      </Card>
    );
  }
  return (
    <Card title="Join Flowtape">
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          if (password !== confirm) {
            setError("the passwords differ");
            return;
          }
          setError(null);
          try {
            const user = await unwrap(client.POST("/api/v1/auth/invitations/accept", { body: { token, password } }));
            window.history.replaceState(null, "", "/accept-invitation");
            setJoined(user.email);
          } catch (e) {
            setError((e as Error).message);
          }
        }}
      >
        <Stack>
          {error && <Alert color="red">{error}</Alert>}
          <PasswordInput label="Choose a password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} data-testid="invitee-password" />
          <PasswordInput label="Repeat it" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.currentTarget.value)} data-testid="invitee-password-confirm" />
          <Button type="submit" disabled={!token} data-testid="invitation-accept">
            Create my account
          </Button>
        </Stack>
      </form>
    </Card>
  );
}

export function VerifyEmail() {
  const token = tokenFromFragment(window.location.hash);
  const [state, setState] = useState<"checking" | "done" | string>("checking");
  useEffect(() => {
    unwrap(client.POST("/api/v1/auth/email-verification/confirm", { body: { token } }))
      .then(() => setState("done"))
      .catch((e: Error) => setState(e.message));
  }, [token]);
  return (
    <Card title="Email address">
      {state === "checking" ? <Loader /> : state === "done" ? <Text size="sm">Your email address is confirmed.</Text> : <Alert color="red">{state}</Alert>}
      {backToConsole}
    </Card>
  );
}
