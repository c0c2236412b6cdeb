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
 * Splits a failed submission into per-field messages and a form-level one. `fields` are the form's
 * field names; a server field path like `records.0.ttl` matches on its first part ("records") only
 * when that is a field here. An error without field details, or naming fields the form does not
 * have, becomes the form-level message (the server's `detail`, never an exception's text).
 */
export function serverFormErrors<F extends string>(error: unknown, fields: readonly F[]): ServerFormErrors<F> {
  if (!(error instanceof ApiError)) {
    return { fields: {}, form: "Something went wrong. Try again." };
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
