// The application: the login page, or, once signed in, the signed-in app for that session. The
// toasts live outside both, so that a "signed out" message outlives the app that showed it.

import { useEffect, useState } from "react";
import { Toaster } from "sonner";
import { useTheme } from "../lib/theme";
import { getSession, onSessionChange, type Session } from "../services/auth";
import { AuthenticatedApp } from "./AuthenticatedApp";
import { LoginPage } from "./LoginPage";

const SESSION_ENDED = "Your session has ended. Sign in again to continue.";

function signedOutMessage(reason: string | undefined): string | null {
  switch (reason) {
    case "expired":
      return SESSION_ENDED;
    case "storage":
      return "You were signed out in another tab.";
    case undefined:
    case "logout":
      return null;
    default:
      return SESSION_ENDED;
  }
}

export default function App() {
  const [session, setSession] = useState<Session | null>(() => getSession());
  const [message, setMessage] = useState<string | null>(null);
  const theme = useTheme();

  useEffect(
    () =>
      onSessionChange((next, reason) => {
        setSession(next);
        setMessage(next ? null : signedOutMessage(reason));
      }),
    [],
  );

  return (
    <>
      {session ? (
        <AuthenticatedApp key={session.token} session={session} />
      ) : (
        <LoginPage
          message={message}
          onSignedIn={(s) => {
            setMessage(null);
            setSession(s);
          }}
        />
      )}
      <Toaster theme={theme} position="bottom-right" closeButton visibleToasts={4} containerAriaLabel="Event toasts" mobileOffset={8} offset={16} />
    </>
  );
}
