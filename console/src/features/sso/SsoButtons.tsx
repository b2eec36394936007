/** "Sign in with <provider>" on the sign-in page: each button is a plain link to the gateway's start URL (the
 * browser goes to the provider and comes back signed in); a refused sign-in comes back with `?sso_error=`. */
import { Alert, Button, Divider, Stack, Text } from "@mantine/core";
import { IconBrandGithub, IconLogin2 } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { client, unwrap } from "@/lib/api-client";

export function ssoError(search: string): string | null {
  return new URLSearchParams(search).get("sso_error");
}

export function SsoButtons({ search = window.location.search }: { search?: string }) {
  const options = useQuery({
    queryKey: ["sso-options"],
    queryFn: () => unwrap(client.GET("/api/v1/auth/sso/options")),
  });
  const error = ssoError(search);
  const providers = options.data?.providers ?? [];
  if (!error && providers.length === 0) return null;
  return (
    <Stack gap="xs" data-testid="sso-buttons">
      {error && (
        <Alert color="red" title="Single sign-on failed" data-testid="sso-error">
          {error}
        </Alert>
      )}
      {providers.map((provider) => (
        <Button
          key={provider.name}
          component="a"
          href={`/api/v1/auth/sso/${encodeURIComponent(provider.name)}/start`}
          variant="default"
          leftSection={provider.kind === "github" ? <IconBrandGithub size={16} /> : <IconLogin2 size={16} />}
          data-testid={`sso-${provider.name}`}
        >
          Sign in with {provider.display_name}
        </Button>
      ))}
      {options.data?.require_sso && (
        <Text size="xs" c="dimmed" data-testid="sso-required">
          This platform requires single sign-on; only the first admin may still use a password.
        </Text>
      )}
      {providers.length > 0 && <Divider label="or with a password" labelPosition="center" />}
    </Stack>
  );
}
