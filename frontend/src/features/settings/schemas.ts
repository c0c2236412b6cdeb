// The live settings, their bounds and what each one does. The bounds mirror the server's
// RuntimeSettings model (backend runtime_settings.py; the `RuntimeSettings` schema in /openapi.json),
// and an end-to-end test compares them with a running server's document, so a bound changed on one
// side only fails the tests. The form checks only the fields the user changed: a value set outside
// these bounds by the server's configuration does not block saving another one.

import { z } from "zod";

export const SETTING_KEYS = [
  "HEALTH_BROADCAST_INTERVAL",
  "SYSTEM_BROADCAST_INTERVAL",
  "FORWARDER_CHECK_INTERVAL",
  "FORWARDER_CHECK_TIMEOUT",
  "FORWARDER_FAILURES_TO_DEGRADE",
  "FORWARDER_SUCCESSES_TO_RECOVER",
  "HEALTH_ALERT_RESPONSE_MS",
  "HEALTH_ALERT_FAILURE_RATIO",
  "LOGIN_FAILURE_LIMIT",
  "LOGIN_FAILURE_WINDOW",
  "BIND_RELOAD_DEBOUNCE",
] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

export interface SettingSpec {
  key: SettingKey;
  label: string;
  /** What it changes, in a sentence. */
  help: string;
  unit: string;
  integer: boolean;
  min: number;
  /** The minimum itself is not allowed (a value must be greater). */
  exclusiveMin: boolean;
  max: number;
  group: SettingGroup;
}

export const SETTING_GROUPS = ["Live updates", "Forwarder health", "Sign-in protection", "BIND"] as const;
export type SettingGroup = (typeof SETTING_GROUPS)[number];

export const SETTINGS: readonly SettingSpec[] = [
  {
    key: "HEALTH_BROADCAST_INTERVAL",
    label: "Health report interval",
    help: "How often the forwarder health report is sent to every dashboard.",
    unit: "seconds",
    integer: false,
    min: 1,
    exclusiveMin: false,
    max: 3600,
    group: "Live updates",
  },
  {
    key: "SYSTEM_BROADCAST_INTERVAL",
    label: "System figures interval",
    help: "How often each server instance sends its CPU, memory and disk figures.",
    unit: "seconds",
    integer: false,
    min: 1,
    exclusiveMin: false,
    max: 3600,
    group: "Live updates",
  },
  {
    key: "FORWARDER_CHECK_INTERVAL",
    label: "Check interval",
    help: "How often every forwarder's servers are sent a test query.",
    unit: "seconds",
    integer: false,
    min: 1,
    exclusiveMin: false,
    max: 3600,
    group: "Forwarder health",
  },
  {
    key: "FORWARDER_CHECK_TIMEOUT",
    label: "Check timeout",
    help: "How long a test query waits for an answer before it counts as a failure.",
    unit: "seconds",
    integer: false,
    min: 0,
    exclusiveMin: true,
    max: 30,
    group: "Forwarder health",
  },
  {
    key: "FORWARDER_FAILURES_TO_DEGRADE",
    label: "Failures before worse",
    help: "Rounds in a row pointing to a worse state before a forwarder's state changes (one lost packet does not flap it).",
    unit: "rounds",
    integer: true,
    min: 1,
    exclusiveMin: false,
    max: 100,
    group: "Forwarder health",
  },
  {
    key: "FORWARDER_SUCCESSES_TO_RECOVER",
    label: "Successes before better",
    help: "Rounds in a row pointing to a better state before a forwarder recovers.",
    unit: "rounds",
    integer: true,
    min: 1,
    exclusiveMin: false,
    max: 100,
    group: "Forwarder health",
  },
  {
    key: "HEALTH_ALERT_RESPONSE_MS",
    label: "Slow answer threshold",
    help: "An average answer slower than this makes a forwarder degraded and raises a slow-response alert.",
    unit: "ms",
    integer: false,
    min: 0,
    exclusiveMin: true,
    max: 60_000,
    group: "Forwarder health",
  },
  {
    key: "HEALTH_ALERT_FAILURE_RATIO",
    label: "Failure ratio threshold",
    help: "The share of a forwarder's servers not answering (0.5 = half) that raises a high-failure-ratio alert.",
    unit: "ratio",
    integer: false,
    min: 0,
    exclusiveMin: true,
    max: 1,
    group: "Forwarder health",
  },
  {
    key: "LOGIN_FAILURE_LIMIT",
    label: "Failed sign-ins allowed",
    help: "Failed sign-ins for one user from one address before further attempts are refused for a while.",
    unit: "attempts",
    integer: true,
    min: 1,
    exclusiveMin: false,
    max: 1000,
    group: "Sign-in protection",
  },
  {
    key: "LOGIN_FAILURE_WINDOW",
    label: "Forget failures after",
    help: "Quiet time after which failed sign-ins are forgotten.",
    unit: "seconds",
    integer: false,
    min: 10,
    exclusiveMin: false,
    max: 86_400,
    group: "Sign-in protection",
  },
  {
    key: "BIND_RELOAD_DEBOUNCE",
    label: "Reload gathering time",
    help: "Changes made within this time are gathered into one BIND reload (0: reload after each change).",
    unit: "seconds",
    integer: false,
    min: 0,
    exclusiveMin: false,
    max: 60,
    group: "BIND",
  },
];

export const SETTING_BY_KEY = Object.fromEntries(SETTINGS.map((s) => [s.key, s])) as Record<SettingKey, SettingSpec>;

/** The bounds in words ("1 to 3600", "more than 0, at most 30"), for hints and messages. */
export function boundsText(spec: SettingSpec): string {
  const low = spec.exclusiveMin ? `more than ${spec.min}, at most` : `${spec.min} to`;
  return `${low} ${spec.max.toLocaleString("en-US")}`;
}

const INTEGER = /^[0-9]+$/;
const DECIMAL = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;

/** A value typed for a setting, or the problem in words. */
export function settingProblem(spec: SettingSpec, input: string): string | null {
  const text = input.trim();
  if (!text) return `${spec.label} is required`;
  if (spec.integer ? !INTEGER.test(text) : !DECIMAL.test(text)) return `${spec.label} must be ${spec.integer ? "a whole number" : "a number"}`;
  const value = Number(text);
  const tooLow = spec.exclusiveMin ? value <= spec.min : value < spec.min;
  if (tooLow || value > spec.max) return `${spec.label} must be ${boundsText(spec)}`;
  return null;
}

export type SettingsValues = Record<SettingKey, string>;

export function toSettingsValues(settings: Record<SettingKey, number>): SettingsValues {
  return Object.fromEntries(SETTING_KEYS.map((key) => [key, String(settings[key] ?? "")])) as SettingsValues;
}

/**
 * The settings form against the values the server holds now (`current`): only the fields whose
 * typed value differs are checked and sent, as numbers.
 */
export function settingsSchema(current: Record<SettingKey, number>) {
  const shape = Object.fromEntries(SETTING_KEYS.map((key) => [key, z.string()])) as Record<SettingKey, z.ZodString>;
  return z
    .object(shape)
    .superRefine((values, ctx) => {
      for (const spec of SETTINGS) {
        const text = values[spec.key];
        if (text.trim() !== "" && Number(text) === current[spec.key]) continue;
        const problem = settingProblem(spec, text);
        if (problem) ctx.addIssue({ code: "custom", path: [spec.key], message: problem });
      }
    })
    .transform((values): Partial<Record<SettingKey, number>> => {
      const out: Partial<Record<SettingKey, number>> = {};
      for (const key of SETTING_KEYS) {
        const value = Number(values[key].trim());
        if (value !== current[key]) out[key] = value;
      }
      return out;
    });
}
