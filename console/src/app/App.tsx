import { Center, Loader, MantineProvider, createTheme } from "@mantine/core";
import { ModalsProvider } from "@mantine/modals";
import { Notifications } from "@mantine/notifications";
import { QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { RouterProvider } from "react-router-dom";
import { AcceptInvitation, ResetPassword, VerifyEmail } from "@/features/auth/Links";
import { SignIn } from "@/features/auth/SignIn";
import { MeProvider, useMeQuery } from "@/lib/auth";
import { makeQueryClient } from "@/lib/query-client";
import { router } from "./router";

const theme = createTheme({ primaryColor: "blue", defaultRadius: "md" });

function Gate() {
  const path = window.location.pathname;
  if (path === "/reset-password") return <ResetPassword />;
  if (path === "/verify-email") return <VerifyEmail />;
  if (path === "/accept-invitation") return <AcceptInvitation />;
  return <SignedIn />;
}

function SignedIn() {
  const me = useMeQuery();
  if (me.isLoading) {
    return (
      <Center h="100vh">
        <Loader />
      </Center>
    );
  }
  if (!me.data) return <SignIn />;
  return (
    <MeProvider me={me.data}>
      <RouterProvider router={router} />
    </MeProvider>
  );
}

export function App() {
  const [queryClient] = useState(makeQueryClient);
  return (
    <MantineProvider theme={theme}>
      <Notifications position="bottom-right" autoClose={4000} />
      <QueryClientProvider client={queryClient}>
        <ModalsProvider>
          <Gate />
        </ModalsProvider>
      </QueryClientProvider>
    </MantineProvider>
  );
}
