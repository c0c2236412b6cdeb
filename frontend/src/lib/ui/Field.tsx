// A labelled form field with its hint and its error, wired for assistive technology: the input
// names the hint and the error in aria-describedby and says aria-invalid when there is an error.

import type { ReactNode } from "react";

export function fieldA11y(id: string, error: string | undefined, hint: boolean) {
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return {
    id,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": describedBy || undefined,
  } as const;
}

export function Field({
  id,
  label,
  hint,
  error,
  children,
  className = "",
}: {
  id: string;
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  children: ReactNode;
  className?: string;
}) {
  return (
    <div className={`field${error ? " has-error" : ""} ${className}`.trim()}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && (
        <p id={`${id}-hint`} className="field-hint">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="field-error" data-testid={`field-error-${id}`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** What a submission's failure says about no field in particular, at the top of the form. */
export function FormError({ message }: { message: string | null }) {
  return message ? (
    <p className="form-error" role="alert" data-testid="form-error">
      {message}
    </p>
  ) : null;
}
