// The frame of a page: its heading (focused after a navigation, so that a screen reader says where
// the user is), a line under it and its actions; and the placeholder of pages still to come.

import type { ReactNode } from "react";
import { ClockIcon } from "./icons";

export function PageHeader({
  title,
  subtitle,
  actions,
  before,
}: {
  title: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
  before?: ReactNode;
}) {
  return (
    <header className="page-head">
      {before}
      <div className="page-head-row">
        <div className="page-title">
          <h1 tabIndex={-1} data-page-title="">
            {title}
          </h1>
          {subtitle && <div className="page-subtitle">{subtitle}</div>}
        </div>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
    </header>
  );
}

/** A page that a later part of the work fills in: it says so plainly, and what it will offer. */
export function ComingSoon({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="page">
      <PageHeader title={title} />
      <section className="panel coming-soon" data-testid="coming-soon" aria-label={`${title}: coming soon`}>
        <span className="state-icon" aria-hidden="true">
          <ClockIcon size={18} />
        </span>
        <p className="state-title">Coming soon</p>
        <div className="state-text">{children}</div>
      </section>
    </div>
  );
}
