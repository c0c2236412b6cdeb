import { useEffect, useState } from "react";
import { Toaster } from "sonner";
import { Header } from "./components/Header";
import { LoginPage } from "./components/LoginPage";
import { RealTimeDashboard } from "./components/RealTimeDashboard";
import { useTheme } from "./components/theme";
import { RealTimeEventProvider } from "./contexts/RealTimeEventContext";
import { getSession, onSessionChange, type Session } from "./services/auth";

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
        <RealTimeEventProvider key={session.token} session={session}>
          <div className="app">
            <Header />
            <RealTimeDashboard />
          </div>
        </RealTimeEventProvider>
      ) : (
        <LoginPage
          message={message}
          onSignedIn={(s) => {
            setMessage(null);
            setSession(s);
          }}
        />
      )}
      <Toaster theme={theme} position="bottom-right" closeButton visibleToasts={4} containerAriaLabel="Event toasts" />
    </>
  );
}
