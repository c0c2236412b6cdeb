// Status labels that say what they mean in words and an icon, never by colour alone.
import type { ReactElement, ReactNode } from "react";
import type { Severity } from "../../types/events";
import { AlertIcon, CheckIcon, InfoIcon, XCircleIcon } from "./icons";
import { SEVERITY_LABELS } from "../format";

export type Tone = "ok" | "warn" | "bad" | "info" | "muted";

const TONE_ICON: Record<Tone, (p: { size?: number }) => ReactElement> = {
  ok: CheckIcon,
  warn: AlertIcon,
  bad: XCircleIcon,
  info: InfoIcon,
  muted: InfoIcon,
};

/** A status label that carries its meaning in text and icon, not colour alone. */
export function StatusBadge({ tone, children, title }: { tone: Tone; children: ReactNode; title?: string }) {
  const IconFor = TONE_ICON[tone];
  return (
    <span className={`badge tone-${tone}`} title={title}>
      <IconFor size={12} />
      <span>{children}</span>
    </span>
  );
}

export function severityTone(severity: Severity): Tone {
  switch (severity) {
    case "critical":
    case "error":
      return "bad";
    case "warning":
      return "warn";
    default:
      return "muted";
  }
}

export function SeverityBadge({ severity }: { severity: Severity }) {
  return <StatusBadge tone={severityTone(severity)}>{SEVERITY_LABELS[severity] ?? severity}</StatusBadge>;
}

export function forwarderTone(status: string): Tone {
  switch (status) {
    case "healthy":
      return "ok";
    case "degraded":
      return "warn";
    case "unhealthy":
    case "down":
      return "bad";
    default:
      return "muted";
  }
}

export function capitalize(text: string): string {
  return text ? text[0]!.toUpperCase() + text.slice(1) : text;
}
