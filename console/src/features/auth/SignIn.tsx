/** The first visit creates the admin account; every later visit signs in. */
import { Alert, Anchor, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { client, unwrap } from "@/lib/api-client";
import { setUp, signIn } from "@/lib/auth";
import { SsoButtons } from "@/features/sso/SsoButtons";

/** "Forgot your password?": the answer is the same whether the address has an account or not. */
function ForgotPassword({ onBack }: { onBack: () => void }) {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await unwrap(client.POST("/api/v1/auth/password-reset", { body: { email } }));
          setSent(true);
        } catch (e) {
          setError(e instanceof Error ? e.message : String(e));
        } finally {
          setBusy(false);
        }
      }}
    >
      <Stack>
        <div>
          <Title order={2}>Reset your password</Title>
          <Text c="dimmed" size="sm">
            We mail a link to choose a new one.
          </Text>
        </div>
        {sent ? (
          <Alert color="blue" data-testid="reset-sent">
            If {email} has an account, a link to reset its password is on its way. It works once, for an hour.
          </Alert>
        ) : (
          <>
            {error && <Alert color="red">{error}</Alert>}
            <TextInput label="Email" autoComplete="username" value={email} onChange={(e) => setEmail(e.currentTarget.value)} data-testid="reset-email" />
            <Button type="submit" loading={busy} disabled={!/^\S+@\S+$/.test(email)} data-testid="reset-request">
              Send the link
            </Button>
          </>
        )}
        <Anchor component="button" type="button" size="sm" onClick={onBack}>
          Back to sign-in
        </Anchor>
      </Stack>
    </form>
  );
}

export function SignIn() {
  const [forgot, setForgot] = useState(false);
  if (forgot) {
    return (
      <Center h="100vh" bg="gray.0">
        <Paper withBorder shadow="sm" p="xl" radius="md" w={400}>
          <ForgotPassword onBack={() => setForgot(false)} />
        </Paper>
      </Center>
    );
  }
  return <SignInForm onForgot={() => setForgot(true)} />;
}

function SignInForm({ onForgot }: { onForgot: () => void }) {
  const queryClient = useQueryClient();
  const status = useQuery({
    queryKey: ["session-status"],
    queryFn: () => unwrap(client.GET("/api/v1/auth/session")),
  });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useForm({
    initialValues: { email: "", password: "", confirm: "" },
    validate: {
      email: (value) => (/^\S+@\S+$/.test(value) ? null : "an email address"),
      password: (value) => (value.length > 0 ? null : "a password"),
    },
  });
  const setup = status.data?.setup_required === true;

  const submit = form.onSubmit(async (values) => {
    if (setup && values.password !== values.confirm) {
      form.setFieldError("confirm", "the passwords differ");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (setup) await setUp(values.email, values.password);
      else await signIn(values.email, values.password);
      await queryClient.invalidateQueries();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      if (setup) await status.refetch();
    } finally {
      setBusy(false);
    }
  });

  return (
    <Center h="100vh" bg="gray.0">
      <Paper withBorder shadow="sm" p="xl" radius="md" w={400}>
        <form onSubmit={submit}>
          <Stack>
            <div>
              <Title order={2}>Flowtape</Title>
              <Text c="dimmed" size="sm">
                {setup ? "Welcome! Create the administrator account to start." : "Sign in to the console."}
              </Text>
            </div>
            {!setup && <SsoButtons />}
            {error && <Alert color="red">{error}</Alert>}
            <TextInput label="Email" autoComplete="username" {...form.getInputProps("email")} />
            <PasswordInput
              label="Password"
              autoComplete={setup ? "new-password" : "current-password"}
              {...form.getInputProps("password")}
            />
            {setup && <PasswordInput label="Repeat the password" autoComplete="new-password" {...form.getInputProps("confirm")} />}
            <Button type="submit" loading={busy || status.isLoading}>
              {setup ? "Create admin account" : "Sign in"}
            </Button>
            {!setup && (
              <Anchor component="button" type="button" size="sm" onClick={onForgot} data-testid="forgot-password">
                Forgot your password?
              </Anchor>
            )}
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
