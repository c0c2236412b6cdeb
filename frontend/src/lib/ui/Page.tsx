// The frame of a page: its heading (focused after a navigation, so that a screen reader says where
// the user is), a line under it and its actions.

import type { ReactNode } from "react";

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
