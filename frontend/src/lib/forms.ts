// Server answers in forms: a 422's `errors[].field` goes on the field it names; anything else
// (a message about no field, a 409, a 403) goes at the top of the form. Pure, so it is unit-tested.

import { ApiError } from "../services/api";

export interface ServerFormErrors<F extends string> {
  /** Messages for fields of this form, by field. */
  fields: Partial<Record<F, string>>;
  /** What concerns no field of this form (shown at its top), or null. */
  form: string | null;
}

/**
 * Which field a refusal without field details concerns, read from its words: the server's business
 * rules answer 409 or 422 with a sentence that starts by naming what is wrong ("domain 'com' is a
 * top-level domain", "a forwarder named 'x' already exists"). The first pattern that matches wins.
 */
export type MessageFields<F extends string> = readonly (readonly [RegExp, F])[];

/**
 * Splits a failed submission into per-field messages and a form-level one. `fields` are the form's
 * field names; a server field path like `records.0.ttl` matches on its first part ("records") only
 * when that is a field here. A 409/422 without field details goes on the field `byMessage` reads
 * from its words, if any. An error without field details, or naming fields the form does not
 * have, becomes the form-level message (the server's `detail`, never an exception's text).
 */
export function serverFormErrors<F extends string>(error: unknown, fields: readonly F[], byMessage: MessageFields<F> = []): ServerFormErrors<F> {
  if (!(error instanceof ApiError)) {
    return { fields: {}, form: "Something went wrong. Try again." };
  }
  if (error.errors.length === 0 && (error.status === 409 || error.status === 422)) {
    const match = byMessage.find(([pattern]) => pattern.test(error.message));
    if (match) return { fields: { [match[1]]: error.message } as Partial<Record<F, string>>, form: null };
  }
  const known = new Set<string>(fields);
  const out: Partial<Record<F, string>> = {};
  const unplaced: string[] = [];
  for (const item of error.errors) {
    const head = item.field.split(".")[0] ?? item.field;
    const field = known.has(item.field) ? item.field : known.has(head) ? head : null;
    if (field === null) {
      unplaced.push(item.field === "body" ? item.message : `${item.field}: ${item.message}`);
    } else if (out[field as F] === undefined) {
      out[field as F] = item.message;
    }
  }
  const placed = Object.keys(out).length > 0;
  const form = unplaced.length ? unplaced.join("; ") : placed ? null : error.message;
  return { fields: out, form };
}

/** Puts a failed submission's messages on the form: each field's with `setError`, the rest returned for the top. */
export function placeServerErrors<F extends string>(
  error: unknown,
  fields: readonly F[],
  setError: (field: F, error: { type: string; message: string }) => void,
  byMessage: MessageFields<F> = [],
): string | null {
  const placed = serverFormErrors(error, fields, byMessage);
  for (const [field, message] of Object.entries(placed.fields) as [F, string][]) setError(field, { type: "server", message });
  return placed.form;
}
