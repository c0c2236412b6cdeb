// The current time for labels that age ("12s ago") and countdowns.
import { useEffect, useState } from "react";

/** The current time, refreshed every `intervalMs` (for "12s ago" labels and countdowns). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
