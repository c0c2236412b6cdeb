// A text box whose value lives in the URL (a search, a filter): the box shows what is typed at
// once, and the URL follows after a short pause; back/forward or a shared link change the box.

import { useEffect, useState } from "react";

export function useUrlText(value: string, commit: (text: string) => Promise<unknown>, delayMs = 250): [string, (text: string) => void] {
  // What was typed and is not in the URL yet (null: the box shows the URL's value).
  const [draft, setDraft] = useState<string | null>(null);
  useEffect(() => {
    if (draft === null) return undefined;
    const timer = setTimeout(() => {
      const sent = draft;
      void commit(sent).finally(() => setDraft((current) => (current === sent ? null : current)));
    }, delayMs);
    return () => clearTimeout(timer);
  }, [draft, commit, delayMs]);
  return [draft ?? value, setDraft];
}
